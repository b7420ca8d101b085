// The new-calculation form: an analysis ticks the analyses it needs, the live preview sends
// only the names of the files chosen, and the preview's problems show next to their fields.
(function () {
  "use strict";

  function box(name) {
    return document.getElementById("an-" + name);
  }

  function needs(input) {
    return (input.dataset.needs || "").split(" ").filter(Boolean);
  }

  // Tick what `input` needs, and what that needs, noting each box that changed.
  function tickNeeds(input, changed) {
    needs(input).forEach(function (name) {
      const other = box(name);
      if (other && !other.checked) {
        other.checked = true;
        changed.push(name);
        tickNeeds(other, changed);
      }
    });
  }

  // Clear every ticked analysis that needs `input`, and what needs those.
  function clearDependents(input, changed) {
    document.querySelectorAll("input[name='analyses']").forEach(function (other) {
      if (other.checked && needs(other).includes(input.value)) {
        other.checked = false;
        changed.push(other.value);
        clearDependents(other, changed);
      }
    });
  }

  document.addEventListener("change", function (event) {
    const input = event.target;
    if (!(input instanceof HTMLInputElement) || input.name !== "analyses") {
      return;
    }
    const changed = [];
    if (input.checked) {
      tickNeeds(input, changed);
    } else {
      clearDependents(input, changed);
    }
    const note = document.getElementById("analyses-note");
    if (note) {
      const how = input.checked ? "also ticked, as " + input.value + " needs it: " : "also cleared, as it needs " + input.value + ": ";
      note.textContent = changed.length ? how + changed.join(", ") : "";
    }
  });

  // The script does not depend on what is in the files: send only their names.
  document.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.elt.id !== "preview") {
      return;
    }
    const parameters = event.detail.parameters;
    Array.from(parameters.entries()).forEach(function (entry) {
      if (entry[1] instanceof File) {
        parameters.delete(entry[0]);
      }
    });
    document.querySelectorAll("#newcalc input[type='file']").forEach(function (input) {
      Array.from(input.files || []).forEach(function (file) {
        parameters.append(input.name, new File([], file.name));
      });
    });
  });

  // Each problem the preview lists goes to its field's slot; fixed ones leave theirs.
  function showProblems(preview) {
    const found = {};
    preview.querySelectorAll("[data-for]").forEach(function (item) {
      const message = item.querySelector(".message");
      (found[item.dataset.for] = found[item.dataset.for] || []).push(message ? message.textContent : "");
    });
    document.querySelectorAll("#newcalc .field-error").forEach(function (slot) {
      const id = slot.id.slice("err-".length);
      const messages = found[id] || [];
      slot.textContent = messages.join(" ");
      const control = document.getElementById(id);
      if (control && control.matches("input, select, textarea")) {
        if (messages.length) {
          control.setAttribute("aria-invalid", "true");
        } else {
          control.removeAttribute("aria-invalid");
        }
      }
    });
    const summary = document.getElementById("problems");
    if (summary) {
      summary.remove(); // the preview now lists what is still wrong
    }
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target.id === "preview") {
      showProblems(event.detail.target);
    }
  });
})();
