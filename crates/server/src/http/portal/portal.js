// Copy buttons beside the values the portal shows once (client secrets, API keys, generated
// passwords). The only script the portal serves: without it every page still works, and the
// buttons, which do nothing without it, stay hidden.
"use strict";

// Plain HTTP to a host other than localhost has no clipboard API, and a browser may refuse it
// anyway (an unfocused window): then the value is selected and copied the older way.
function copyBySelection(text) {
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  const copied = document.execCommand("copy");
  document.body.removeChild(area);
  return copied ? Promise.resolve() : Promise.reject(new Error("copy refused"));
}

function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    return navigator.clipboard.writeText(text).catch(() => copyBySelection(text));
  }
  return copyBySelection(text);
}

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const target = document.getElementById(button.dataset.copy);
    if (!target) {
      continue;
    }
    button.hidden = false;
    button.addEventListener("click", () => {
      copyText(target.textContent).then(
        () => { button.textContent = "Copied"; },
        () => { button.textContent = "Select and copy by hand"; },
      );
    });
  }
});
