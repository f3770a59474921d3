// The market input: as you type, the datalist offers active markets as exchange:SYMBOL.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const input of document.querySelectorAll("input[data-suggest]")) {
    const options = document.getElementById(input.getAttribute("list"));
    let asked = null;
    const suggest = async () => {
      const text = input.value;
      if (text === asked) return;
      asked = text;
      const url = `${input.dataset.suggest}?q=${encodeURIComponent(text)}`;
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (!response.ok || text !== input.value) return;
      const { markets } = await response.json();
      options.replaceChildren(
        ...markets.map((label) => Object.assign(document.createElement("option"), { value: label })),
      );
    };
    input.addEventListener("input", suggest);
    input.addEventListener("focus", suggest);
  }
});
