// Draws the conversation graph(s) of a support console page with Mermaid. The graph
// text comes from the server, already marked: the state the member was in at the step
// being viewed has class s_active, the states visited before it s_visited (the page's
// stylesheet colours them). Loaded with the page's CSP nonce, after mermaid.min.js.
"use strict";
mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "neutral" });
mermaid
  .run({ querySelector: "pre.mermaid" })
  .then(() => document.body.setAttribute("data-graph", "drawn"))
  .catch((error) => {
    document.body.setAttribute("data-graph", "failed");
    console.error("the graph could not be drawn", error);
  });
