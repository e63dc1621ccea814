#!/usr/bin/env node
// Draws each task's form as the classic designer shows it, filled in with the values of
// samples/azure-pipelines.yml, for samples/classic.md: the task's icon and name, the task version and
// display name, the groups as collapsible sections, every input that the visibleRules show for those
// values (label, required asterisk, (i) help marker, and a text box, checkbox, drop-down or service
// connection picker holding the sample's value or the default), then Control Options and Output
// Variables with the step's reference name. Renders images/classic-<task>.png with rsvg-convert
// (KEEP_SVG=<folder> also keeps the SVGs there). Like scripts/render-icons.sh, it is run by hand after
// the sample or a task.json changes; the PNGs are committed, so build and tests never need it.
//   Needs rsvg-convert and pngquant (Debian/Ubuntu: apt-get install librsvg2-bin pngquant; macOS: brew install librsvg pngquant).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { givenInputs, inputValues, isVisible, loadOurTasks, loadPipeline, taskSteps } from './check-pipeline.mjs';
import { defaultRoot } from './validate-tasks.mjs';

const OUTPUTS = { FetchLatestModel: 'fetch-latest-model', BakeModelIntoImage: 'bake-model-into-image', DeployAiAppToAks: 'deploy-ai-app-to-aks' };
const WIDTH = 720;
const PAD = 24;
const FIELD = WIDTH - 2 * PAD;
const GAP = 14;
const FONT = "'Segoe UI', Helvetica, Arial, sans-serif";
const C = { text: '#323130', muted: '#605e5c', border: '#8a8886', line: '#edebe9', blue: '#0078d4', red: '#a4262c', hint: '#a19f9d', bar: '#f3f2f1' };

// Helvetica advance widths (1/1000 em) for ASCII 32..126; Arial and Nimbus Sans share them.
const REGULAR = [278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, ...Array(10).fill(556), 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584];
const BOLD = [278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, ...Array(10).fill(556), 333, 333, 584, 584, 584, 611, 975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556, 333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, 611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584];

function textWidth(text, size, bold = false) {
  const table = bold ? BOLD : REGULAR;
  return [...text].reduce((sum, ch) => sum + (table[ch.charCodeAt(0) - 32] ?? 600), 0) * size / 1000;
}

const esc = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function fit(text, size, width) {
  if (textWidth(text, size) <= width) return text;
  let cut = text;
  while (cut && textWidth(`${cut}…`, size) > width) cut = cut.slice(0, -1);
  return `${cut}…`;
}

const label = (x, y, text, { size = 13, weight = 400, fill = C.text } = {}) =>
  `<text x="${x}" y="${y}" font-size="${size}" font-weight="${weight}" fill="${fill}">${esc(text)}</text>`;

const info = (x, y) => `<circle cx="${x + 7}" cy="${y - 4.5}" r="6.5" fill="none" stroke="${C.muted}" stroke-width="1.1"/>` +
  `<text x="${x + 7}" y="${y - 1}" font-size="10" font-weight="700" fill="${C.muted}" text-anchor="middle">i</text>`;

/** A field's label line: text, red asterisk when required, then the (i) help marker. */
function labelLine(y, text, required, help = true) {
  let x = PAD;
  let svg = label(x, y, text, { weight: 600 });
  x += textWidth(text, 13, true) + 3;
  if (required) { svg += label(x, y, '*', { fill: C.red, weight: 600 }); x += 9; }
  return help ? svg + info(x + 2, y) : svg;
}

const box = (x, y, w, h) => `<rect x="${x + 0.5}" y="${y + 0.5}" width="${w - 1}" height="${h - 1}" rx="2" fill="#ffffff" stroke="${C.border}"/>`;
const chevronDown = (x, y) => `<path d="M${x - 4} ${y - 2} l4 4 l4 -4" fill="none" stroke="${C.muted}" stroke-width="1.4"/>`;
const refresh = (x, y) => `<g transform="translate(${x} ${y})" fill="none" stroke="${C.muted}" stroke-width="1.4"><path d="M6 -4.5 A6 6 0 1 0 6.5 2"/><path d="M6.8 -8 v4 h-4"/></g>`;

function valueText(x, y, value, width, placeholder = '') {
  if (!value) return placeholder ? label(x, y, fit(placeholder, 13, width), { fill: C.hint }) : '';
  return label(x, y, fit(value, 13, width), {});
}

/** One input as the designer draws it, at y; returns [svg, height]. */
function field(input, value, y, help = true) {
  const shown = value ?? '';
  if (input.type === 'boolean') {
    const checked = shown.toLowerCase() === 'true';
    const mark = checked ? `<rect x="${PAD}" y="${y + 2}" width="18" height="18" rx="2" fill="${C.blue}"/><path d="M${PAD + 4} ${y + 11} l4 4 l7 -8" fill="none" stroke="#fff" stroke-width="2"/>`
      : `<rect x="${PAD + 0.5}" y="${y + 2.5}" width="17" height="17" rx="2" fill="#fff" stroke="${C.text}"/>`;
    let x = PAD + 28;
    const text = label(x, y + 16, input.label);
    x += textWidth(input.label, 13) + 4;
    return [mark + text + info(x, y + 16), 36];
  }
  const connection = input.type.startsWith('connectedService:');
  let svg = labelLine(y + 13, input.label, input.required, help);
  if (connection) svg += `<text x="${WIDTH - PAD}" y="${y + 13}" font-size="13" fill="${C.blue}" text-anchor="end">Manage ↗</text>`;
  const top = y + 22;
  if (input.type === 'multiLine') {
    const rows = Math.max(2, Number(input.properties?.rows ?? 2));
    const height = rows * 19 + 12;
    svg += box(PAD, top, FIELD, height);
    shown.split('\n').slice(0, rows).forEach((line, i) => { svg += valueText(PAD + 9, top + 21 + i * 19, line, FIELD - 18); });
    return [svg, 22 + height + GAP];
  }
  const picker = input.type === 'pickList' || connection;
  const refreshable = connection || input.properties?.EditableOptions !== undefined;
  const width = refreshable ? FIELD - 40 : input.type === 'filePath' ? FIELD - 40 : FIELD;
  svg += box(PAD, top, width, 32);
  const display = input.type === 'pickList' && input.options?.[shown] !== undefined ? input.options[shown] : shown;
  svg += valueText(PAD + 9, top + 21, display, width - (picker ? 40 : 18), connection ? 'Select a service connection' : '');
  if (picker) svg += chevronDown(PAD + width - 16, top + 16);
  if (refreshable) svg += refresh(WIDTH - PAD - 20, top + 16);
  if (input.type === 'filePath') svg += `<text x="${WIDTH - PAD - 16}" y="${top + 20}" font-size="15" font-weight="700" fill="${C.muted}" text-anchor="middle">…</text>`;
  return [svg, 22 + 32 + GAP];
}

function section(y, title, expanded) {
  const arrow = expanded ? `<path d="M${PAD} ${y + 7} l5 5 l5 -5" fill="none" stroke="${C.text}" stroke-width="1.6"/>`
    : `<path d="M${PAD + 3} ${y + 4} l5 5 l-5 5" fill="none" stroke="${C.text}" stroke-width="1.6"/>`;
  return [`<line x1="${PAD}" y1="${y - 10.5}" x2="${WIDTH - PAD}" y2="${y - 10.5}" stroke="${C.line}"/>` + arrow + label(PAD + 20, y + 14, title, { size: 15, weight: 600 }), expanded ? 36 : 46];
}

function outputVariables(y, stepName, outputs) {
  let svg = labelLine(y + 13, 'Reference name', false);
  svg += box(PAD, y + 22, FIELD, 32) + valueText(PAD + 9, y + 43, stepName, FIELD - 18);
  y += 72;
  svg += label(PAD, y + 13, 'Variables list', { weight: 600 });
  y += 22;
  for (const output of outputs) {
    const name = `${stepName}.${output.name}`;
    svg += label(PAD + 12, y + 14, name, { weight: 600, fill: C.text });
    svg += label(PAD + 200, y + 14, fit(output.description ?? '', 12, FIELD - 212), { size: 12, fill: C.muted });
    y += 22;
  }
  return [svg, 72 + 22 + outputs.length * 22 + 14];
}

/** The whole form for one task step of the sample. */
export function renderForm(task, step, iconBase64) {
  const json = task.json;
  const given = givenInputs(json, step.inputs);
  const values = inputValues(json, given);
  const parts = [];
  let y = 0;
  // header: icon, name, (i), and the designer's links
  parts.push(`<rect width="${WIDTH}" height="64" fill="${C.bar}"/><line x1="0" y1="64.5" x2="${WIDTH}" y2="64.5" stroke="#e1dfdd"/>`);
  parts.push(`<image x="${PAD}" y="16" width="32" height="32" href="data:image/png;base64,${iconBase64}" xlink:href="data:image/png;base64,${iconBase64}"/>`);
  parts.push(label(PAD + 44, 39, json.friendlyName, { size: 19, weight: 600 }) + info(PAD + 52 + textWidth(json.friendlyName, 19, true), 38));
  parts.push(['Remove', 'View YAML', 'Link settings'].reduce((acc, link) => ({
    x: acc.x - textWidth(link, 13) - 22,
    svg: acc.svg + `<text x="${acc.x}" y="38" font-size="13" fill="${C.blue}" text-anchor="end">${link}</text>`,
  }), { x: WIDTH - PAD, svg: '' }).svg);
  y = 88;
  const version = `${task.major}.*`;
  parts.push(labelLine(y + 13, 'Task version', false, false), box(PAD, y + 22, 140, 32), valueText(PAD + 9, y + 43, version, 100), chevronDown(PAD + 124, y + 38));
  y += 68;
  const display = { name: 'displayName', type: 'string', label: 'Display name', required: true };
  const [dsvg, dh] = field(display, String(step.displayName ?? json.instanceNameFormat), y, false);
  parts.push(dsvg);
  y += dh + 12;
  for (const group of [{ name: undefined }, ...(json.groups ?? [])]) {
    const inputs = json.inputs.filter((input) => input.groupName === group.name && isVisible(json, input, values) !== false);
    if (group.name !== undefined) {
      if (group.visibleRule && isVisible(json, { groupName: group.name }, values) === false) continue;
      const expanded = group.isExpanded || inputs.some((input) => given.has(input.name));
      const [ssvg, sh] = section(y, group.displayName, expanded);
      parts.push(ssvg);
      y += sh;
      if (!expanded) continue;
    }
    for (const input of inputs) {
      const [fsvg, fh] = field(input, values.get(input.name), y);
      parts.push(fsvg);
      y += fh;
    }
    if (inputs.length && group.name !== undefined) y += 6;
  }
  const [csvg, ch] = section(y, 'Control Options', false);
  parts.push(csvg);
  y += ch;
  const [osvg, oh] = section(y, 'Output Variables', true);
  parts.push(osvg);
  y += oh;
  const [vsvg, vh] = outputVariables(y, String(step.name ?? ''), json.outputVariables ?? []);
  parts.push(vsvg);
  y += vh;
  const height = Math.ceil(y);
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by scripts/render-task-forms.mjs from tasks/${json.name}V${task.major}/task.json and samples/azure-pipelines.yml: do not edit. -->
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="${FONT}">
<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>
<rect x="0.5" y="0.5" width="${WIDTH - 1}" height="${height - 1}" fill="none" stroke="#c8c6c4"/>
${parts.join('\n')}
</svg>
`;
}

function main() {
  for (const [tool, pkg] of [['rsvg-convert', 'librsvg2-bin'], ['pngquant', 'pngquant']]) {
    try {
      execFileSync(tool, ['--version'], { stdio: 'ignore' });
    } catch {
      console.error(`render-task-forms: ${tool} is missing. Install it with: apt-get install -y ${pkg}`);
      process.exit(1);
    }
  }
  const tasks = loadOurTasks(defaultRoot);
  const sample = join(defaultRoot, 'samples', 'azure-pipelines.yml');
  const steps = taskSteps(loadPipeline(sample), tasks);
  for (const [name, slug] of Object.entries(OUTPUTS)) {
    const found = steps.find((s) => s.name === name);
    if (!found) throw new Error(`render-task-forms: ${sample} has no ${name} step`);
    const icon = readFileSync(join(defaultRoot, 'tasks', `${name}V${found.task.major}`, 'icon.png')).toString('base64');
    const pngFile = join(defaultRoot, 'images', `classic-${slug}.png`);
    const svg = renderForm(found.task, found.step, icon);
    if (process.env.KEEP_SVG) writeFileSync(join(process.env.KEEP_SVG, `classic-${slug}.svg`), svg);
    const png = execFileSync('rsvg-convert', ['--format', 'png'], { input: svg, maxBuffer: 1 << 28 });
    // 256 colours are plenty for a form: a third of the size, no visible difference.
    writeFileSync(pngFile, execFileSync('pngquant', ['--quality', '80-100', '--speed', '1', '--strip', '-'], { input: png, maxBuffer: 1 << 28 }));
    console.log(`render-task-forms: ${name} -> ${pngFile}`);
  }
}

main();
