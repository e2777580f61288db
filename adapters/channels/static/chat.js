// The web chat page: one WebSocket to the bot. Every event the page sends carries an
// id of its own and is kept until the server acknowledges it, so a message written
// while the connection is down is sent again on reconnect (and applied once).
"use strict";

(function () {
  const body = document.body;
  const log = document.getElementById("log");
  const form = document.getElementById("composer");
  const input = document.getElementById("message");
  const status = document.getElementById("status");
  const phone = document.getElementById("phone");
  const phoneEmpty = document.getElementById("phone-empty");

  const pending = []; // events not yet acknowledged, oldest first
  const bubbles = new Map(); // event id -> the member's bubble
  let socket = null;
  let connected = false;
  let everConnected = false;
  let historyShown = false;
  let phoneSeen = 0;
  let retryDelay = 500;
  let secretStep = false;

  function eventId() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function bubble(from, text) {
    const item = document.createElement("li");
    item.className = "bubble " + from;
    const words = document.createElement("p");
    words.textContent = text;
    item.appendChild(words);
    log.appendChild(item);
    item.scrollIntoView({ block: "end" });
    return item;
  }

  function showReply(reply) {
    const item = bubble("bot", reply.text);
    if (reply.image) {
      const picture = document.createElement("img");
      picture.src = reply.image.src;
      picture.alt = reply.image.alt;
      item.insertBefore(picture, item.firstChild);
    }
    if (reply.choices.length) {
      const choices = document.createElement("div");
      choices.className = "choices";
      for (const choice of reply.choices) {
        choices.appendChild(choice.url ? pageLink(choice) : choiceButton(choice));
      }
      item.appendChild(choices);
    }
    // The last reply of a turn is the question now due: the text box follows it.
    secretStep = reply.secret;
    input.type = reply.hidden ? "password" : "text";
  }

  function choiceButton(choice) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = choice.label;
    button.dataset.choice = choice.data;
    button.addEventListener("click", () => choose(choice));
    return button;
  }

  // The secure-entry page opens in place of the chat, and comes back to it once sent.
  function pageLink(choice) {
    const link = document.createElement("a");
    link.className = "page-link";
    link.href = choice.url;
    link.textContent = choice.label;
    link.dataset.choice = choice.data;
    return link;
  }

  function showPhone(messages) {
    if (!phone) return;
    for (const message of messages) {
      const item = document.createElement("li");
      item.className = "phone-message " + message.kind;
      const head = document.createElement("p");
      head.className = "phone-head";
      const kind = message.kind === "sms" ? body.dataset.sms : body.dataset.mail;
      head.textContent = kind + " → " + message.to;
      const words = document.createElement("p");
      words.className = "phone-text";
      words.textContent = message.text;
      item.append(head, words);
      phone.appendChild(item);
      item.scrollIntoView({ block: "end" });
      phoneSeen = Math.max(phoneSeen, message.id);
    }
    if (phoneEmpty && messages.length) phoneEmpty.hidden = true;
  }

  // The log is busy while an event waits for its answer (assistive technology, and
  // tests, wait for it to settle).
  function settle() {
    log.setAttribute("aria-busy", pending.length > 0 ? "true" : "false");
  }

  function post(event) {
    pending.push(event);
    settle();
    if (connected) socket.send(JSON.stringify(event));
  }

  function choose(choice) {
    const event = { type: "choice", id: eventId(), data: choice.data };
    bubbles.set(event.id, bubble("member", choice.label));
    post(event);
  }

  form.addEventListener("submit", (submitted) => {
    submitted.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
    const event = { type: "text", id: eventId(), text: text };
    bubbles.set(event.id, bubble("member", secretStep ? "••••••" : text));
    post(event);
  });

  function received(frame) {
    const message = JSON.parse(frame.data);
    if (message.type === "history") {
      // Shown once per page; after a reconnect the page already shows it all.
      if (!historyShown) {
        for (const line of message.entries) bubble(line.from, line.text);
        historyShown = true;
      }
    } else if (message.type === "reply") {
      showReply(message);
    } else if (message.type === "ack" || message.type === "error") {
      const at = pending.findIndex((event) => event.id === message.id);
      if (at >= 0) pending.splice(at, 1);
      settle();
      const mine = bubbles.get(message.id);
      if (mine && message.secret) mine.querySelector("p").textContent = "••••••";
      bubbles.delete(message.id);
    } else if (message.type === "phone") {
      showPhone(message.messages);
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const after = everConnected ? "?after=" + phoneSeen : "";
    socket = new WebSocket(scheme + location.host + body.dataset.socket + after);
    socket.addEventListener("message", received);
    socket.addEventListener("open", () => {
      connected = true;
      status.hidden = true;
      retryDelay = 500;
      const opening = !everConnected;
      // History comes first on the socket; anything unacknowledged goes again after it.
      for (const event of pending) socket.send(JSON.stringify(event));
      if (opening) post({ type: "open", id: eventId() });
      everConnected = true;
    });
    socket.addEventListener("close", (closed) => {
      connected = false;
      if (closed.code === 4401) {
        location.reload(); // no session (expired or never given): the page gives one
        return;
      }
      status.hidden = false;
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 10000);
    });
  }

  connect();
})();
