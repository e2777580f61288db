// Draws the conversation graph(s) of a support console page with Mermaid. The graph
// text comes from the server, already marked: the state the member was in at the step
// being viewed has class s_active, the states visited before it s_visited (the page's
// stylesheet colours them). Loaded with the page's CSP nonce, after mermaid.min.js.
//
// The console's CSP refuses inline styles: Mermaid's <style> element inside each SVG
// is refused too, so its rules are copied into a <style> element that carries the
// page's nonce. The inline style attributes Mermaid sets stay refused (the browser
// reports each); nothing the graph needs depends on them.
"use strict";
(() => {
  const nonce = document.currentScript.nonce;
  const font = getComputedStyle(document.body).fontFamily;
  mermaid.initialize({
    startOnLoad: false,
    securityLevel: "strict",
    theme: "neutral",
    themeVariables: { fontFamily: font },
  });
  mermaid
    .run({ querySelector: "pre.mermaid" })
    .then(() => {
      for (const refused of document.querySelectorAll("pre.mermaid svg style")) {
        const allowed = document.createElement("style");
        allowed.nonce = nonce;
        allowed.textContent = refused.textContent;
        document.head.append(allowed);
      }
      document.body.setAttribute("data-graph", "drawn");
    })
    .catch((error) => {
      document.body.setAttribute("data-graph", "failed");
      console.error("the graph could not be drawn", error);
    });
})();
