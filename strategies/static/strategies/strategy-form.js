// The strategy form: inputs and help for the chosen kind's parameters, from its schema (the
// same data /api/strategy-kinds/ answers). The inputs write the JSON text area the form posts.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const box = document.querySelector(".parameter-inputs");
  const kindSelect = document.getElementById("id_kind");
  if (!box || !kindSelect) return;
  const textarea = document.getElementById(box.dataset.for);
  const kinds = Object.fromEntries(JSON.parse(box.dataset.kinds).map((k) => [k.key, k]));
  const helpText = document.getElementById(`${textarea.id}_helptext`);

  const current = () => {
    try {
      const value = JSON.parse(textarea.value || "{}");
      return value && typeof value === "object" && !Array.isArray(value) ? value : {};
    } catch {
      return null; // not JSON: leave the text as typed, the server reports it
    }
  };

  const write = () => {
    const values = current() || {};
    for (const input of box.querySelectorAll("input[data-name]")) {
      const name = input.dataset.name;
      if (input.dataset.type === "boolean") values[name] = input.checked;
      else if (input.value === "") delete values[name];
      else if (input.dataset.type === "integer") values[name] = Number(input.value);
      else values[name] = input.value; // decimals and text as strings: no float rounding
    }
    textarea.value = JSON.stringify(values);
  };

  // The server's errors name their parameter ("quote_amount: must be ..."): outline only those.
  const row = box.closest(".form-row");
  const invalid = new Set(
    [...(row ? row.querySelectorAll(".errorlist li") : [])].map((li) => li.textContent.split(":")[0].trim()),
  );

  const draw = () => {
    box.replaceChildren();
    const kind = kinds[kindSelect.value];
    if (!kind) return;
    const values = current() || {};
    if (helpText) {
      helpText.textContent = `${kind.name}: ${kind.description} Empty inputs take their default.`;
    }
    for (const param of kind.parameters) {
      const label = document.createElement("label");
      label.className = "parameter-input";
      const input = document.createElement("input");
      input.dataset.name = param.name;
      input.dataset.type = param.type;
      input.id = `id_parameter_${param.name}`;
      input.type = { string: "text", boolean: "checkbox" }[param.type] || "number";
      if (param.type === "integer") input.step = "1";
      if (param.type === "decimal") input.step = "any";
      if (param.minimum !== null) input.min = param.minimum;
      if (param.maximum !== null) input.max = param.maximum;
      input.placeholder = `${param.default}`;
      if (param.type === "boolean") input.checked = values[param.name] ?? param.default;
      else if (values[param.name] !== undefined) input.value = values[param.name];
      if (invalid.has(param.name)) {
        input.classList.add("invalid");
        input.setAttribute("aria-invalid", "true");
      }
      input.addEventListener("input", write);
      const bounds = [
        param.minimum !== null ? `from ${param.minimum}` : "",
        param.maximum !== null ? `to ${param.maximum}` : "",
      ].filter(Boolean).join(" ");
      label.append(`${param.name} `, input, ` ${param.help} (default ${param.default}${bounds ? `, ${bounds}` : ""})`);
      box.append(label);
    }
  };

  kindSelect.addEventListener("change", () => {
    // Values of the previous kind's parameters would be refused as unknown: keep only shared ones.
    const kind = kinds[kindSelect.value];
    const values = current();
    if (kind && values) {
      const names = new Set(kind.parameters.map((p) => p.name));
      textarea.value = JSON.stringify(
        Object.fromEntries(Object.entries(values).filter(([name]) => names.has(name))),
      );
    }
    draw();
  });
  textarea.addEventListener("change", draw);
  draw();
});
