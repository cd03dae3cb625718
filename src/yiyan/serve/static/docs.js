// yiyan API reference: lists the operations of /openapi.json with their bodies' schemas.
"use strict";

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

function schemaBlock(title, content) {
  const details = element("details", "schema");
  details.append(element("summary", "", title));
  const pre = element("pre", "", JSON.stringify(content, null, 2));
  details.append(pre);
  return details;
}

async function render() {
  const main = document.getElementById("api-reference");
  const spec = await (await fetch("/openapi.json")).json();
  main.replaceChildren(element("p", "muted", `${spec.info.title} ${spec.info.version}: ${spec.info.description || ""}`));
  for (const [path, operations] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(operations)) {
      const card = element("section", "card operation");
      const head = element("h2");
      head.append(element("code", "method", method.toUpperCase()), " ", element("code", "path", path));
      card.append(head);
      if (op.summary) card.append(element("p", "", op.summary));
      if (op.description) card.append(element("p", "muted small", op.description));
      if (op.requestBody) card.append(schemaBlock("request body", op.requestBody.content));
      card.append(schemaBlock(`responses: ${Object.keys(op.responses || {}).join(", ")}`, op.responses));
      main.append(card);
    }
  }
  main.append(schemaBlock("schemas", (spec.components || {}).schemas || {}));
}

render().catch((error) => {
  document.getElementById("api-reference").textContent = `could not load /openapi.json: ${error}`;
});
