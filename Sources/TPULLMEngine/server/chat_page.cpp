#include "chat_page.h"

namespace tpu::server {

const char *const chat_page_html = R"HTML(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tpu-llm-engine chat</title>
<style>
  :root { --fg: #1d2330; --muted: #6b7385; --line: #d9dde5; --user: #e8f0fe; --bot: #f4f5f7; --accent: #2f6fde; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
         display: flex; flex-direction: column; height: 100vh; }
  header { display: flex; align-items: center; gap: 12px; padding: 10px 16px; border-bottom: 1px solid var(--line); }
  header h1 { font-size: 16px; margin: 0; }
  #status { color: var(--muted); font-size: 13px; flex: 1; }
  #key-row { display: none; gap: 6px; align-items: center; font-size: 13px; }
  #key-row.needed { display: flex; }
  #messages { flex: 1; overflow-y: auto; padding: 16px; display: flex; flex-direction: column; gap: 10px; }
  .message { max-width: 80%; padding: 8px 12px; border-radius: 10px; white-space: pre-wrap; word-wrap: break-word; }
  .message.user { align-self: flex-end; background: var(--user); }
  .message.assistant { align-self: flex-start; background: var(--bot); }
  .message.error { align-self: center; background: #fdecea; color: #8a1c1c; }
  .message.assistant.streaming::after { content: "\2589"; color: var(--muted); }
  .message.user.queued { opacity: 0.6; border: 1px dashed var(--muted); }
  .message.user.queued::after { content: " \2014 queued, sent when the answer ends"; font-size: 12px; color: var(--muted); }
  body[data-engine=gone] #status { color: #8a1c1c; font-weight: 600; }
  #stop { display: none; }
  body.answering #stop { display: inline-block; }
  form { display: flex; gap: 8px; padding: 12px 16px; border-top: 1px solid var(--line); }
  textarea { flex: 1; resize: none; height: 3.2em; padding: 8px; font: inherit; border: 1px solid var(--line);
             border-radius: 8px; }
  button { font: inherit; padding: 0 16px; border-radius: 8px; border: 1px solid var(--line); background: #fff;
           cursor: pointer; }
  button[type=submit] { background: var(--accent); border-color: var(--accent); color: #fff; }
  button:disabled { opacity: 0.5; cursor: default; }
</style>
</head>
<body data-state="starting">
<header>
  <h1>tpu-llm-engine</h1>
  <span id="status">connecting…</span>
  <label id="key-row">API key <input id="api-key" type="password" autocomplete="off" size="18"></label>
  <button id="clear" type="button" title="Forget the conversation">Clear</button>
</header>
<main id="messages" aria-live="polite"></main>
<form id="composer">
  <textarea id="input" placeholder="Ask something… (Enter sends, Shift+Enter for a new line)"></textarea>
  <button id="stop" type="button" title="Stop the answer">Stop</button>
  <button id="send" type="submit">Send</button>
</form>
<script>
"use strict";
const conversation = [];
const list = document.getElementById("messages");
const input = document.getElementById("input");
const send = document.getElementById("send");
const statusLine = document.getElementById("status");
const keyRow = document.getElementById("key-row");
const keyField = document.getElementById("api-key");
keyField.value = localStorage.getItem("tpu-engine-api-key") || "";
keyField.addEventListener("change", () => localStorage.setItem("tpu-engine-api-key", keyField.value));
let busy = false;
let stopper = null;        /* the running answer's AbortController */
const queued = [];         /* messages typed during an answer: {text, element}, sent in order when it ends */
let engineGone = false;
let modelLine = "";

function headers() {
  const result = { "Content-Type": "application/json" };
  if (keyField.value) result["Authorization"] = "Bearer " + keyField.value;
  return result;
}

function bubble(role, text) {
  const element = document.createElement("div");
  element.className = "message " + role;
  element.textContent = text;
  list.appendChild(element);
  list.scrollTop = list.scrollHeight;
  return element;
}

function setState(state) { document.body.dataset.state = state; }

/* A 401 says which: no key sent, or the wrong one. */
function keyProblem() { return keyField.value ? "wrong key" : "this engine needs an API key"; }

async function waitUntilReady() {
  for (;;) {
    try {
      const health = await (await fetch("/health")).json();
      if (health.status === "ready") {
        modelLine = health.model + " (" + health.family + ", " + health.layers + " layers, context " +
          health.seq_len + ")";
        statusLine.textContent = modelLine;
        return true;
      }
      if (health.status === "failed") {
        statusLine.textContent = "the model failed to load: " + health.reason;
        return false;
      }
      statusLine.textContent = "loading " + health.model + "… " + health.load_seconds.toFixed(1) + " s";
    } catch (error) {
      statusLine.textContent = "the engine does not answer: " + error;
    }
    await new Promise(resolve => setTimeout(resolve, 500));
  }
}

async function checkKey() {
  const response = await fetch("/v1/models", { headers: headers() });
  if (response.status === 401) {
    keyRow.classList.add("needed");
    statusLine.textContent = modelLine + " \u2014 " + keyProblem();
  } else if (response.ok && !engineGone) {
    statusLine.textContent = modelLine;
  }
}

/* Every few seconds: is the engine still there? The header says so when it is not, and when it is back. */
async function watchEngine() {
  for (;;) {
    await new Promise(resolve => setTimeout(resolve, 2000));
    let alive = false;
    try { alive = (await fetch("/health", { cache: "no-store" })).status < 500; } catch (error) { alive = false; }
    if (!alive && !engineGone) {
      engineGone = true;
      document.body.dataset.engine = "gone";
      statusLine.textContent = "the engine is gone: no answer from " + location.host + " (is the forward or the service down?)";
    } else if (alive && engineGone) {
      engineGone = false;
      document.body.dataset.engine = "up";
      statusLine.textContent = modelLine || "the engine is back";
    }
  }
}

/* Reads Server-Sent Events from a fetch response, calling onData with each event's data. */
async function readEvents(response, onData) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split("\n").filter(line => line.startsWith("data:"))
        .map(line => line.slice(5).replace(/^ /, "")).join("\n");
      if (data && onData(data) === false) return;
    }
  }
}

async function ask(text, queuedBubble) {
  if (!text.trim()) return;
  if (busy) {
    /* Never lost: shown at once as queued, sent when the running answer ends. */
    queued.push({ text, element: bubble("user queued", text) });
    setState("queued");
    return;
  }
  busy = true;
  document.body.classList.add("answering");
  setState("sending");
  conversation.push({ role: "user", content: text });
  if (queuedBubble) queuedBubble.classList.remove("queued"); else bubble("user", text);
  const answer = bubble("assistant streaming", "");
  let reply = "";
  stopper = new AbortController();
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST", headers: headers(), signal: stopper.signal,
      /* Greedy, as `tpudeploy chat` by default: the same question gets the same answer. */
      body: JSON.stringify({ messages: conversation, stream: true, temperature: 0 }),
    });
    if (!response.ok) {
      let message = response.status + " " + response.statusText;
      try { message = (await response.json()).error.message; } catch (ignored) {}
      if (response.status === 401) {
        keyRow.classList.add("needed");
        message = keyProblem() + ": " + message;
        statusLine.textContent = modelLine + " \u2014 " + keyProblem();
      }
      throw new Error(message);
    }
    await readEvents(response, data => {
      if (data === "[DONE]") return false;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Error(chunk.error.message);
      const choice = chunk.choices && chunk.choices[0];
      if (choice && choice.delta && choice.delta.content) {
        reply += choice.delta.content;
        answer.textContent = reply;
        list.scrollTop = list.scrollHeight;
      }
    });
    conversation.push({ role: "assistant", content: reply });
    if (!engineGone) statusLine.textContent = modelLine; /* a key problem shown before is solved */
    setState("done");
  } catch (error) {
    if (error.name === "AbortError") {
      /* Stopped by the user: what came so far stays, in the page and in the conversation. */
      if (reply) conversation.push({ role: "assistant", content: reply }); else { conversation.pop(); answer.remove(); }
      bubble("error", "stopped");
      setState("stopped");
    } else {
      conversation.pop();
      if (!reply) answer.remove();
      bubble("error", String(error.message || error));
      setState("error");
    }
  } finally {
    answer.classList.remove("streaming");
    busy = false;
    stopper = null;
    document.body.classList.remove("answering");
    input.focus();
  }
  const next = queued.shift();
  if (next) await ask(next.text, next.element);
}

document.getElementById("stop").addEventListener("click", () => { if (stopper) stopper.abort(); });

document.getElementById("composer").addEventListener("submit", event => {
  event.preventDefault();
  const text = input.value;
  input.value = "";
  ask(text);
});
input.addEventListener("keydown", event => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    document.getElementById("composer").requestSubmit();
  }
});
document.getElementById("clear").addEventListener("click", () => {
  conversation.length = 0;
  queued.length = 0;
  list.replaceChildren();
  setState("cleared");
  input.focus();
});

(async () => {
  const ready = await waitUntilReady();
  checkKey().catch(() => {});
  keyField.addEventListener("change", () => checkKey().catch(() => {}));
  watchEngine();
  setState(ready ? "ready" : "failed");
  const prompt = new URLSearchParams(location.search).get("prompt");
  if (ready && prompt) await ask(prompt);
})();
</script>
</body>
</html>
)HTML";

}  // namespace tpu::server
