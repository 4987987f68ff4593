/* Form fields generated from a backend plugin's JSON-schema settings: strings (password
 * inputs for writeOnly secrets, left empty to keep the stored value), numbers, booleans,
 * enums; anything else as JSON text. */
(function () {
  "use strict";
  function label(name, prop) { return prop.title || name.replace(/_/g, " "); }

  function ordered(props, order) {
    const names = (order || []).filter((n) => n in props);
    for (const n of Object.keys(props)) if (!names.includes(n)) names.push(n);
    return names.map((n) => [n, props[n]]);
  }

  function render(container, schema, values, prefix, order) {
    const props = (schema && schema.properties) || {};
    const required = new Set((schema && schema.required) || []);
    container.replaceChildren();
    for (const [name, prop] of ordered(props, order)) {
      const id = prefix + "-" + name;
      const value = values && values[name] !== undefined ? values[name] : prop.default;
      const help = [prop.description, prop.writeOnly && values ? Portal.t("leave empty to keep the current value") : null].filter(Boolean).join("; ");
      const helpId = help ? id + "-help" : null;
      let input;
      if (prop.type === "boolean") {
        input = Portal.el("input", { type: "checkbox", id, name, checked: !!value, "aria-describedby": helpId });
        container.append(Portal.el("label", { class: "inline", for: id }, input, " " + label(name, prop)));
      } else {
        if (Array.isArray(prop.enum)) {
          input = Portal.el("select", { id, name, "aria-describedby": helpId },
            prop.enum.map((v) => Portal.el("option", { value: v, selected: v === value, text: String(v) })));
        } else if (prop.type === "integer" || prop.type === "number") {
          input = Portal.el("input", { type: "number", id, name, value: value ?? "", min: prop.minimum, max: prop.maximum,
            step: prop.type === "integer" ? 1 : "any", "aria-describedby": helpId });
        } else if (prop.type === "string" || prop.type === undefined) {
          const secret = prop.writeOnly || prop.format === "password";
          input = Portal.el("input", { type: secret ? "password" : (prop.format === "uri" ? "url" : "text"), id, name,
            value: secret ? "" : (value ?? ""), autocomplete: secret ? "new-password" : "off",
            placeholder: secret && values ? "unchanged" : null, "aria-describedby": helpId,
            required: required.has(name) && !(secret && values) });
        } else {
          input = Portal.el("textarea", { id, name, rows: 3, "data-json": "1", "aria-describedby": helpId }, value === undefined ? "" : JSON.stringify(value, null, 2));
        }
        container.append(Portal.el("label", { for: id }, label(name, prop) + (required.has(name) ? "" : " (optional)")), input);
      }
      if (help) container.append(Portal.el("p", { class: "muted", id: helpId, text: help }));
    }
  }

  function read(container, schema, editing) {
    const props = (schema && schema.properties) || {};
    const out = {};
    for (const [name, prop] of Object.entries(props)) {
      const input = container.querySelector('[name="' + CSS.escape(name) + '"]');
      if (!input) continue;
      if (prop.type === "boolean") { out[name] = input.checked; continue; }
      const raw = input.value;
      if (raw === "") {
        if ((prop.writeOnly || prop.format === "password") && editing) continue; // keep the stored secret
        continue;
      }
      if (input.dataset.json) {
        try { out[name] = JSON.parse(raw); } catch (err) { throw Portal.invalid(name, Portal.t("%(field)s must be valid JSON", { field: label(name, prop) })); }
      } else if (prop.type === "integer" || prop.type === "number") {
        const n = Number(raw);
        if (!Number.isFinite(n) || (prop.type === "integer" && !Number.isInteger(n))) throw Portal.invalid(name, Portal.t("%(field)s must be a number", { field: label(name, prop) }));
        out[name] = n;
      } else {
        out[name] = raw;
      }
    }
    return out;
  }

  window.SchemaForm = { render, read };
})();
