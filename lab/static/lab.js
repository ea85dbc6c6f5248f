// The Knock Lab, better with JavaScript: the buttons call the JSON API and
// the page changes in place. Without this file the form posts to the
// server, which renders the same page; the two must show the same thing,
// so the result is built here as templates/result.html builds it.
'use strict';
(function () {
  const form = document.getElementById('lab');
  if (!form || !window.fetch || !window.FormData) return;
  const valueFields = ['ip', 'mask', 'port', 'service', 'time', 'flags', 'rand', 'iv', 'ivvalue', 'sequence'];

  form.addEventListener('submit', function (ev) {
    let action = ev.submitter ? ev.submitter.value : 'encode';
    ev.preventDefault();
    if (action === 'clear') {
      clearValues();
      return;
    }
    if (action === 'sample') {
      fill(JSON.parse(form.dataset.sample));
      action = 'encode';
    }
    call(action);
  });

  function formObject() {
    const data = {};
    for (const [k, v] of new FormData(form)) data[k] = v;
    return data;
  }

  async function call(action) {
    form.classList.add('busy');
    let body;
    try {
      const resp = await fetch('/api/' + action, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(formObject()),
      });
      body = await resp.json();
    } catch (e) {
      showErrors({ form: 'the lab did not answer: ' + e.message });
      return;
    } finally {
      form.classList.remove('busy');
    }
    showErrors(body.errors || {});
    if (body.errors) {
      showResult(body.result);
      return;
    }
    if (body.fields) fill(body.fields);
    else fill({ sequence: body.sequence });
    showResult(body);
  }

  function fill(values) {
    for (const [k, v] of Object.entries(values)) {
      const input = form.elements.namedItem(k);
      if (!input) continue;
      if (input.type === 'checkbox') input.checked = v === 'on' || v === true;
      else input.value = v;
    }
  }

  function clearValues() {
    const empty = {};
    for (const k of valueFields) empty[k] = '';
    fill(empty);
    showErrors({});
    showResult(null);
  }

  function showErrors(errors) {
    for (const p of form.querySelectorAll('.error')) p.textContent = '';
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    for (const [k, msg] of Object.entries(errors)) {
      const p = document.getElementById(k + '-err') || document.getElementById('form-err');
      p.textContent = p.textContent ? p.textContent + ' ' + msg : msg;
      const input = form.elements.namedItem(k);
      if (input && input.setAttribute) input.setAttribute('aria-invalid', 'true');
    }
  }

  // el makes an element: el('p', {class: 'x'}, 'text', child, ...).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    for (const c of children) {
      if (c !== null && c !== undefined && c !== false) e.append(c);
    }
    return e;
  }

  const hex = (n) => n.toString(16).padStart(2, '0');
  const printable = (n) => (n >= 0x21 && n <= 0x7e ? String.fromCharCode(n) : '');

  function part(p) {
    const showChar = p.kind === 'header' || p.kind === 'iv';
    const cells = p.bytes.map((b) =>
      el('span', { class: 'cell' }, el('b', null, String(b)), el('i', null, hex(b)), showChar && el('u', null, printable(b))));
    return el('figure', { class: 'part k-' + p.kind },
      el('figcaption', null, el('b', null, p.name),
        p.role && ' ', p.role && el('span', { class: 'role' }, p.role),
        p.text && ' ', p.text && el('span', { class: 'text' }, p.text)),
      el('div', { class: 'cells' }, ...cells));
  }

  function parts(list, missing) {
    if (!list || !list.length) return el('p', { class: 'missing' }, missing);
    return el('div', { class: 'parts' }, ...list.map(part));
  }

  function step(n, text) {
    return el('h3', null, el('span', { class: 'step' }, String(n)), ' ' + text);
  }

  function bitTable(r) {
    const rows = (r.groups || []).map((g) => el('tr', null,
      el('td', null, String(g.index)),
      el('td', { class: 'bitcell' }, ...g.bits.map((s) => el('span', { class: 'seg k-' + s.kind, title: 'byte ' + s.byte }, s.bits))),
      el('td', null, String(g.symbol)),
      el('td', { class: 'port' }, String(g.port))));
    const head = el('tr', null, ...['#', 'bits', 'value', 'port'].map((h) => el('th', { scope: 'col' }, h)));
    return el('table', { class: 'bits', id: 'bit-table' }, el('thead', null, head), el('tbody', null, ...rows));
  }

  function summary(r) {
    const none = r.cipher === 'none';
    return el('p', { class: 'summary' },
      r.ports.length + ' ports of the span ', el('code', null, r.span),
      ' (' + r.span_size + ' ports, ' + r.bits + ' bits each) · knock format ', el('code', null, r.format),
      (r.format_derived ? ' (chosen by the lab)' : '') + ' · ' +
      (none ? 'not encrypted' : r.cipher) + (r.iv ? ' with the IV ' + r.iv : ''));
  }

  function showResult(r) {
    const section = document.getElementById('result');
    section.replaceChildren();
    if (!r) return;
    const none = r.cipher === 'none';
    const items = [
      el('h2', null, r.action !== 'decode' ? 'The knock' : r.ok ? 'The knock, decrypted' : 'The knock, as far as it could be read'),
      el('p', { class: 'knock' }, el('output', { id: 'knock-out' }, r.sequence)),
      summary(r),
      r.plain && r.plain.length > 0 && el('p', { class: 'plain' }, 'The integer list it ' + (none ? 'carries' : 'encrypts') + ': ',
        el('code', { id: 'plain-out' }, r.plain.join(' '))),
      r.notes && el('ul', { class: 'notes' }, ...r.notes.map((n) => el('li', null, n))),
      el('div', { class: 'stages' },
        el('div', { class: 'stage' },
          step(1, 'Fields to bytes'), parts(r.plain_parts, 'No plain bytes: the knock did not decrypt.'),
          step(2, none ? 'No encryption' : 'Encryption'), parts(r.sealed_parts, 'The knock failed before its bytes were read.')),
        el('div', { class: 'stage' },
          step(3, 'Bits to ports'),
          el('p', { class: 'explain' }, 'The ' + (r.sealed || []).length + ' bytes of step 2 as one bit string, cut into groups of ' +
            r.bits + ' bits. A group of value v is port number v of the span, counting from 0.'),
          bitTable(r))),
    ];
    section.append(...items.filter((x) => x));
  }
})();
