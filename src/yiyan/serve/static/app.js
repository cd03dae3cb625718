// yiyan web page: translate with POST /translate and draw the attention map as an HTML table.
// The text box is one document (input_format "text"): the server segments it into sentences,
// and the attention view shows one sentence at a time (the sentence selector).
"use strict";

const LANGUAGES = { en: "English", zh: "中文", de: "Deutsch", fr: "Français", es: "Español", ja: "日本語", ko: "한국어", ru: "Русский" };
const $ = (id) => document.getElementById(id);
const state = { info: null, document: null, results: [], selected: 0 };

function setStatus(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

// weight in [0, 1] → a colour from near-white to deep blue
function weightColour(weight) {
  const w = Math.pow(Math.min(Math.max(weight, 0), 1), 0.75);
  const from = [247, 249, 252], to = [30, 58, 138];
  const c = from.map((f, i) => Math.round(f + (to[i] - f) * w));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

function isSpecial(piece) {
  return piece === "</s>" || piece === "<s>" || piece === "<unk>" || piece === "<pad>";
}

function pieceLabel(piece) {
  if (isSpecial(piece)) return piece;
  const text = piece.replace(/^▁/, "");
  return text === "" ? "▁" : text;
}

function tokenElement(tag, piece, cls, index) {
  const el = document.createElement(tag);
  el.className = cls;
  if (isSpecial(piece)) el.classList.add("special");
  else if (piece.startsWith("▁") && index > 0) el.classList.add("word-start");
  el.textContent = pieceLabel(piece);
  el.title = piece;
  return el;
}

async function loadInfo() {
  try {
    const response = await fetch("/info");
    const info = await response.json();
    state.info = info;
    const src = info.src_lang || "?", tgt = info.tgt_lang || "?";
    $("model-info").textContent =
      `${info.model} · ${src} → ${tgt} · ${info.architecture || "model"} · ${info.engine}`;
    $("source-label").textContent = LANGUAGES[src] || src;
    $("target-label").textContent = LANGUAGES[tgt] || tgt;
    fillBeams(info.limits.max_beam, info.default_beam || Math.min(5, info.limits.max_beam));
  } catch (error) {
    $("model-info").textContent = "model info unavailable";
    fillBeams(8, 5);
  }
}

function fillBeams(maxBeam, defaultBeam) {
  const select = $("beam");
  select.replaceChildren();
  for (let beam = 1; beam <= maxBeam; beam++) {
    const option = new Option(beam === 1 ? "1 (greedy)" : String(beam), String(beam));
    option.selected = beam === defaultBeam;
    select.add(option);
  }
}

async function translate() {
  const text = $("source").value;
  if (text.trim() === "") {
    setStatus("Type something to translate.", true);
    return;
  }
  const button = $("translate");
  button.disabled = true;
  setStatus("Translating…");
  try {
    const response = await fetch("/translate", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text, input_format: "text", beam: Number($("beam").value), attention: true }),
    });
    const body = await response.json();
    if (!response.ok) {
      setStatus(`Error ${response.status}: ${body.error || "request failed"}`, true);
      return;
    }
    state.document = body.translations[0];
    state.results = state.document.sentences;
    state.selected = 0;
    renderTranslations();
    renderAttention(body.note);
    const n = state.results.length, split = state.document.split;
    setStatus(
      `${body.elapsed_ms.toFixed(0)} ms · beam ${body.beam ?? "default"} · ${n} sentence${n === 1 ? "" : "s"}` +
        (split ? ` · ${split} too long, translated in pieces` : "") +
        (body.note ? ` · ${body.note}` : ""),
    );
  } catch (error) {
    setStatus(`Error: ${error.message}`, true);
  } finally {
    button.disabled = false;
  }
}

// the translated document as the server re-assembled it (paragraphs and line breaks kept),
// then, for a text of several sentences, each sentence pair: click one to inspect its attention
function renderTranslations() {
  const out = $("translation");
  const documentText = document.createElement("p");
  documentText.className = "document";
  documentText.textContent = state.document ? state.document.text : "";
  out.replaceChildren(documentText);
  if (state.results.length > 1) {
    const list = document.createElement("ol");
    list.className = "sentences";
    state.results.forEach((result, i) => {
      const item = document.createElement("li");
      item.textContent = result.text;
      item.title = result.source;
      item.dataset.index = String(i);
      item.classList.toggle("selected", i === state.selected);
      item.addEventListener("click", () => selectSentence(i));
      list.append(item);
    });
    out.append(list);
  }
  const select = $("sentence");
  select.replaceChildren(...state.results.map((r, i) => new Option(`sentence ${i + 1}: ${r.source.slice(0, 40)}`, String(i))));
  select.value = String(state.selected);
  select.hidden = state.results.length < 2;
}

function selectSentence(i) {
  state.selected = i;
  renderTranslations();
  renderAttention(null);
}

function renderAttention(note) {
  const result = state.results[state.selected];
  const srcRow = $("src-tokens"), tgtRow = $("tgt-tokens"), heatmap = $("heatmap");
  srcRow.replaceChildren();
  tgtRow.replaceChildren();
  heatmap.replaceChildren();
  $("attention-caption").textContent = "";
  if (!result) return;
  result.src_tokens.forEach((piece, s) => {
    const el = tokenElement("span", piece, "tok src-token", s);
    el.dataset.s = String(s);
    srcRow.append(el);
  });
  result.tgt_tokens.forEach((piece, t) => {
    const el = tokenElement("span", piece, "tok tgt-token", t);
    el.dataset.t = String(t);
    el.addEventListener("mouseenter", () => highlight(t));
    el.addEventListener("mouseleave", () => highlight(null));
    tgtRow.append(el);
  });
  if (!result.attention) {
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = note || (result.tgt_tokens.length ? "No attention for this translation." : "Empty input.");
    heatmap.append(p);
    return;
  }
  heatmap.append(heatmapTable(result), legend());
  $("attention-caption").textContent =
    `Rows: target tokens; columns: source tokens. Decoder layer ${result.attention.layer + 1} (the last), ` +
    `${result.attention.heads} over heads. Each row sums to 1.`;
}

function heatmapTable(result) {
  const weights = result.attention.weights;
  const table = document.createElement("table");
  table.className = "heatmap";
  // short source labels read best horizontally; longer ones are written vertically
  const longLabels = result.src_tokens.some((piece) => !isSpecial(piece) && pieceLabel(piece).length > 3);
  table.classList.toggle("vertical-heads", longLabels);
  const head = table.createTHead().insertRow();
  head.append(document.createElement("th"));
  result.src_tokens.forEach((piece, s) => {
    const th = tokenElement("th", piece, "src-head", 0);
    const label = document.createElement("span");
    label.textContent = th.textContent;
    label.classList.toggle("short", th.textContent.length <= 2);
    th.replaceChildren(label);
    th.dataset.s = String(s);
    head.append(th);
  });
  const body = table.createTBody();
  weights.forEach((row, t) => {
    const tr = body.insertRow();
    tr.dataset.t = String(t);
    const th = tokenElement("th", result.tgt_tokens[t] ?? "?", "tgt-head", 0);
    th.dataset.t = String(t);
    tr.append(th);
    row.forEach((weight, s) => {
      const td = tr.insertCell();
      td.className = "cell";
      td.dataset.t = String(t);
      td.dataset.s = String(s);
      td.style.backgroundColor = weightColour(weight);
      td.title = `${pieceLabel(result.tgt_tokens[t] ?? "?")} → ${pieceLabel(result.src_tokens[s] ?? "?")}: ${weight.toFixed(3)}`;
    });
    tr.addEventListener("mouseenter", () => highlight(t));
    tr.addEventListener("mouseleave", () => highlight(null));
  });
  return table;
}

function legend() {
  const div = document.createElement("div");
  div.className = "legend";
  const bar = document.createElement("span");
  bar.className = "bar";
  bar.style.background = `linear-gradient(to right, ${[0, 0.25, 0.5, 0.75, 1].map(weightColour).join(", ")})`;
  div.append("0", bar, "1");
  return div;
}

// hovering target token t: colour the source tokens by its attention weights
function highlight(t) {
  const result = state.results[state.selected];
  const row = t === null || !result || !result.attention ? null : result.attention.weights[t];
  const max = row ? Math.max(...row) : 0;
  document.querySelectorAll(".tgt-token").forEach((el) => el.classList.toggle("active", Number(el.dataset.t) === t));
  document.querySelectorAll("table.heatmap tbody tr").forEach((tr) => tr.classList.toggle("active", Number(tr.dataset.t) === t));
  document.querySelectorAll(".src-token, th.src-head").forEach((el) => {
    const weight = row ? row[Number(el.dataset.s)] ?? 0 : 0;
    const attended = row !== null && weight >= 0.5 * max && weight > 0;
    el.classList.toggle("attended", attended);
    el.classList.toggle("strongest", row !== null && weight === max && weight > 0);
    if (el.classList.contains("src-token")) {
      el.style.backgroundColor = row ? weightColour(weight) : "";
      el.style.color = row && weight > 0.45 ? "#fff" : "";
    }
  });
  if (row) {
    const best = row.indexOf(max);
    $("hover-info").textContent =
      `${pieceLabel(result.tgt_tokens[t])} attends most to ${pieceLabel(result.src_tokens[best])} (${max.toFixed(2)})`;
  } else {
    $("hover-info").textContent = "hover a target token to see which source tokens it attends to";
  }
}

$("translate").addEventListener("click", translate);
$("source").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    translate();
  }
});
$("sentence").addEventListener("change", (event) => selectSentence(Number(event.target.value)));
loadInfo();
