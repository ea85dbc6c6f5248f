// The Knock Lab, better with JavaScript: the buttons call the JSON API and
// the page changes in place. Without this file the form posts to the
// server, which renders the same page; the two must show the same thing,
// so the result is built here as templates/result.html builds it.
//
// Each mode has its fields in a <fieldset data-mode>; the other mode's is
// hidden and disabled, so that a name both modes use (ip, port, span...)
// is sent once, from the mode on screen.
'use strict';
(function () {
  const form = document.getElementById('lab');
  if (!form || !window.fetch || !window.FormData) return;
  const valueFields = ['ip', 'mask', 'port', 'service', 'time', 'flags', 'rand', 'iv', 'ivvalue',
    'implicit', 'proto', 'duration', 'unit', 'close', 'timestamp', 'nonce', 'sequence'];
  const modeSelect = document.getElementById('mode');
  const switchButton = document.getElementById('switch');
  if (switchButton) switchButton.hidden = true; // the selector acts at once

  modeSelect.addEventListener('change', function () {
    setMode(modeSelect.value);
    showErrors({});
    showResult(null);
  });

  form.addEventListener('submit', function (ev) {
    let action = ev.submitter ? ev.submitter.value : 'encode';
    ev.preventDefault();
    switch (action) {
      case 'mode':
        setMode(modeSelect.value);
        return;
      case 'clear':
        clearValues();
        return;
      case 'keygen':
        keygen();
        return;
      case 'sample': {
        const samples = JSON.parse(form.dataset.sample);
        fill(samples[modeSelect.value] || samples.legacy);
        setMode(modeSelect.value);
        action = 'encode';
      }
    }
    call(action);
  });

  // setMode shows one mode's fields, carrying over what was typed into
  // the fields both modes have.
  function setMode(mode) {
    const old = form.dataset.mode;
    if (old && old !== mode) carry(old, mode);
    form.dataset.mode = mode;
    for (const e of document.querySelectorAll('[data-mode]')) {
      if (e === form) continue;
      e.hidden = e.dataset.mode !== mode;
      if (e.tagName === 'FIELDSET') e.disabled = e.hidden;
    }
  }

  function carry(from, to) {
    const src = form.querySelector('fieldset[data-mode="' + from + '"]');
    const dst = form.querySelector('fieldset[data-mode="' + to + '"]');
    if (!src || !dst) return;
    for (const e of src.querySelectorAll('input[name]:not([type=checkbox]), select[name]')) {
      const twin = dst.querySelector('[name="' + e.name + '"]');
      if (twin) twin.value = e.value;
    }
  }

  function formObject() {
    const data = {};
    for (const [k, v] of new FormData(form)) data[k] = v;
    return data;
  }

  async function post(path, data) {
    form.classList.add('busy');
    try {
      const resp = await fetch(path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(data),
      });
      return await resp.json();
    } catch (e) {
      showErrors({ form: 'the lab did not answer: ' + e.message });
      return null;
    } finally {
      form.classList.remove('busy');
    }
  }

  async function call(action) {
    const body = await post('/api/' + action, formObject());
    if (!body) return;
    showErrors(body.errors || {});
    if (body.errors) {
      if (body.result && body.result.fields) fill(body.result.fields);
      showResult(body.result);
      return;
    }
    fill(Object.assign({ sequence: body.sequence }, body.fields || {}));
    showResult(body);
  }

  async function keygen() {
    const body = await post('/api/keygen', {});
    if (!body) return;
    showErrors(body.errors || {});
    if (body.key) fill({ key: body.key, password: '' });
  }

  // fill sets every field of each name, in both modes, as the server
  // renders one value into both.
  function fill(values) {
    for (const [k, v] of Object.entries(values)) {
      for (const input of form.querySelectorAll('[name="' + k + '"]')) {
        if (input.type === 'checkbox') input.checked = v === 'on' || v === true;
        else if (input.tagName === 'SELECT') choose(input, String(v));
        else input.value = v;
      }
    }
  }

  // choose selects an option, or the list's default for a value it lacks.
  function choose(select, v) {
    const known = Array.from(select.options).some((o) => o.value === v);
    select.value = known ? v : select.dataset.default || select.options[0].value;
  }

  function clearValues() {
    const empty = {};
    for (const k of valueFields) empty[k] = '';
    fill(empty);
    showErrors({});
    showResult(null);
  }

  // field is the control of a name in the mode on screen.
  function field(name) {
    for (const e of form.querySelectorAll('[name="' + name + '"]')) {
      if (e.type !== 'submit' && !e.matches(':disabled')) return e;
    }
    return null;
  }

  function showErrors(errors) {
    for (const p of form.querySelectorAll('.error')) p.textContent = '';
    for (const e of form.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
    for (const [k, msg] of Object.entries(errors)) {
      const input = field(k);
      const p = (input && document.getElementById(input.id + '-err')) || document.getElementById('form-err');
      p.textContent = p.textContent ? p.textContent + ' ' + msg : msg;
      if (input) input.setAttribute('aria-invalid', 'true');
      const details = p.closest('details');
      if (details) details.open = true;
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

  function bits(r) {
    const rows = (r.groups || []).map((g) => el('tr', null,
      el('td', null, String(g.index)),
      el('td', { class: 'bitcell' }, ...g.bits.map((s) => el('span', { class: 'seg k-' + s.kind, title: 'byte ' + s.byte }, s.bits))),
      el('td', null, String(g.symbol)),
      el('td', { class: 'port' }, String(g.port))));
    const head = el('tr', null, ...['#', 'bits', 'value', 'port'].map((h) => el('th', { scope: 'col' }, h)));
    return [
      step(3, 'Bits to ports'),
      el('p', { class: 'explain' }, 'The ' + (r.sealed || []).length + ' bytes of step 2 as one bit string, cut into groups of ' +
        r.bits + ' bits. A group of value v is port number v of the span, counting from 0.'),
      el('table', { class: 'bits', id: 'bit-table' }, el('thead', null, head), el('tbody', null, ...rows)),
    ];
  }

  function spanText(r) {
    return [r.ports.length + ' ports of the span ', el('code', null, r.span), ' (' + r.span_size + ' ports, ' + r.bits + ' bits each)'];
  }

  function notes(r) {
    return r.notes && el('ul', { class: 'notes' }, ...r.notes.map((n) => el('li', null, n)));
  }

  function legacyResult(r) {
    const none = r.cipher === 'none';
    return [
      el('p', { class: 'summary' }, ...spanText(r), ' · knock format ', el('code', null, r.format),
        (r.format_derived ? ' (chosen by the lab)' : '') + ' · ' + (none ? 'not encrypted' : r.cipher) + (r.iv ? ' with the IV ' + r.iv : '')),
      r.plain && r.plain.length > 0 && el('p', { class: 'plain' }, 'The integer list it ' + (none ? 'carries' : 'encrypts') + ': ',
        el('code', { id: 'plain-out' }, r.plain.join(' '))),
      notes(r),
      el('div', { class: 'stages' },
        el('div', { class: 'stage' },
          step(1, 'Fields to bytes'), parts(r.plain_parts, 'No plain bytes: the knock did not decrypt.'),
          step(2, none ? 'No encryption' : 'Encryption'), parts(r.sealed_parts, 'The knock failed before its bytes were read.')),
        el('div', { class: 'stage' }, ...bits(r))),
    ];
  }

  function sealedResult(r) {
    const datagram = r.datagram && r.datagram.length > 0;
    const plain = r.plain_parts && r.plain_parts.length > 0;
    const third = datagram ? [
      step(3, 'The datagram'),
      el('p', { class: 'explain' }, 'The magic, then the ' + r.sealed.length +
        ' bytes of step 2, in one UDP datagram to the daemon\'s SPA port. The daemon never answers.'),
      parts(r.datagram_parts, ''),
    ] : bits(r);
    return [
      el('p', { class: 'summary' }, ...(datagram ? ['one UDP datagram of ' + r.datagram.length + ' bytes'] : spanText(r)),
        ' · ' + r.format + ' · ' + r.cipher),
      notes(r),
      el('div', { class: 'stages' },
        el('div', { class: 'stage' },
          step(1, 'The message in clear'),
          plain ? parts(r.plain_parts, '') : el('p', { class: 'missing' }, 'Nothing of the body is shown: the tag does not match.'),
          plain && el('p', { class: 'explain' }, 'The tag is HMAC-SHA256 of these bytes and the full 64-bit time (and of the source address, when the address ' +
            'is implicit), under a key derived from yours. The body, time to nonce, is then encrypted with HMAC-SHA256 of the tag ' +
            'under a second derived key.'),
          step(2, 'Sealed: in clear, encrypted, tag'), parts(r.sealed_parts, '')),
        el('div', { class: 'stage' }, ...third)),
    ];
  }

  function showResult(r) {
    const section = document.getElementById('result');
    section.replaceChildren();
    if (!r) return;
    const items = [
      el('h2', null, r.action !== 'decode' ? 'The knock' : r.ok ? 'The knock, decrypted' : 'The knock, as far as it could be read'),
      el('p', { class: 'knock' }, el('output', { id: 'knock-out' }, r.sequence)),
      ...(r.mode === 'sealed' ? sealedResult(r) : legacyResult(r)),
    ];
    section.append(...items.filter((x) => x));
  }
})();
