// voiceloop web console: plain JS, no build step, nothing fetched from outside this server.
"use strict";

const TEXT = {
  zh: {
    "tab.file": "单文件", "tab.batch": "批量", "tab.live": "实时", "tab.system": "系统", "tab.settings": "设置",
    "token.change": "令牌", "token.prompt": "此服务器需要访问令牌（服务器上环境变量 VOICELOOP_API_TOKEN 的值）。",
    "token.save": "确定", "token.wrong": "令牌不正确，请重试。",
    "file.drop": "把录音拖到这里，或", "file.go": "识别", "file.none": "请先选择一个录音文件。",
    "hotwords.label": "热词（可选，逗号或空格分隔）", "working": "识别中…",
    "col.file": "文件", "col.duration": "时长", "col.text": "文本", "col.time": "处理时间", "col.speed": "速度",
    "batch.go": "全部识别", "batch.json": "下载全部 (JSON)", "batch.tsv": "下载全部 (TSV)",
    "batch.waiting": "等待中", "batch.summary": "{ok} 个成功，{bad} 个失败",
    "live.mic": "浏览器麦克风", "live.start": "开始录音", "live.stop": "停止并识别",
    "live.recording": "录音中…", "live.dialogue": "助手的对话", "live.noDialogue": "此服务器没有运行语音助手（voiceloop serve）。",
    "live.heard": "听到", "live.said": "回答", "live.interrupted": "（被打断）", "live.latency": "首个声音",
    "live.nomic": "无法使用麦克风：", "system.refresh": "刷新",
    "settings.hotwords": "热词", "settings.hotwords.note": "每行一个；保存后下一句话和下一个 API 请求即生效，无需重启。",
    "settings.save": "保存", "settings.saved": "已保存", "settings.config": "其它设置（只读）",
    "settings.file": "保存在：", "settings.configFile": "配置文件：", "settings.defaults": "内置默认值",
    "state.listening": "聆听中", "state.thinking": "思考中", "state.speaking": "说话中", "state.none": "无对话",
    "sys.config_file": "配置文件", "sys.asr_engine": "识别引擎", "sys.models": "模型", "sys.device": "设备",
    "sys.gpus": "GPU", "sys.cpu_model": "CPU", "sys.cpu_cores": "CPU 核心", "sys.ram": "内存",
    "sys.python": "Python", "sys.platform": "系统", "sys.torch": "torch", "sys.libraries": "库版本",
    "sys.audio_inputs": "音频输入", "sys.audio_outputs": "音频输出", "sys.none": "无",
  },
  en: {
    "tab.file": "File", "tab.batch": "Batch", "tab.live": "Live", "tab.system": "System", "tab.settings": "Settings",
    "token.change": "Token", "token.prompt": "This server needs an access token (the value of VOICELOOP_API_TOKEN on the server).",
    "token.save": "OK", "token.wrong": "Wrong token, please try again.",
    "file.drop": "Drop a recording here, or", "file.go": "Transcribe", "file.none": "Choose a recording first.",
    "hotwords.label": "Hotwords (optional, comma or space separated)", "working": "Transcribing…",
    "col.file": "File", "col.duration": "Duration", "col.text": "Text", "col.time": "Processing time", "col.speed": "Speed",
    "batch.go": "Transcribe all", "batch.json": "Download all (JSON)", "batch.tsv": "Download all (TSV)",
    "batch.waiting": "waiting", "batch.summary": "{ok} done, {bad} failed",
    "live.mic": "Browser microphone", "live.start": "Start recording", "live.stop": "Stop and transcribe",
    "live.recording": "Recording…", "live.dialogue": "The assistant's conversation",
    "live.noDialogue": "This server runs no voice assistant (voiceloop serve).",
    "live.heard": "heard", "live.said": "said", "live.interrupted": "(interrupted)", "live.latency": "first audio",
    "live.nomic": "Cannot use the microphone: ", "system.refresh": "Refresh",
    "settings.hotwords": "Hotwords", "settings.hotwords.note": "One per line; they apply to the next utterance and the next API request, no restart needed.",
    "settings.save": "Save", "settings.saved": "Saved", "settings.config": "Other settings (read-only)",
    "settings.file": "Kept in: ", "settings.configFile": "Config file: ", "settings.defaults": "built-in defaults",
    "state.listening": "listening", "state.thinking": "thinking", "state.speaking": "speaking", "state.none": "no dialogue",
    "sys.config_file": "Config file", "sys.asr_engine": "ASR engine", "sys.models": "Models", "sys.device": "Device",
    "sys.gpus": "GPU", "sys.cpu_model": "CPU", "sys.cpu_cores": "CPU cores", "sys.ram": "RAM",
    "sys.python": "Python", "sys.platform": "Platform", "sys.torch": "torch", "sys.libraries": "Libraries",
    "sys.audio_inputs": "Audio inputs", "sys.audio_outputs": "Audio outputs", "sys.none": "none",
  },
};

const $ = (sel) => document.querySelector(sel);
let lang = localStorage.getItem("voiceloop.lang") || "zh";
const t = (key, vars = {}) => (TEXT[lang][key] || key).replace(/\{(\w+)\}/g, (_, k) => vars[k]);

function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  $("#lang").value = lang;
}

// ---- token and requests ----
const token = () => sessionStorage.getItem("voiceloop.token") || "";
const authHeaders = () => (token() ? { Authorization: "Bearer " + token() } : {});

function askToken(wrong) {
  $("#token-error").textContent = wrong ? t("token.wrong") : "";
  $("#token-input").value = "";
  const dialog = $("#token-dialog");
  if (!dialog.open) dialog.showModal();
  return new Promise((resolve) => {
    $("#token-form").onsubmit = () => { sessionStorage.setItem("voiceloop.token", $("#token-input").value.trim()); resolve(); };
  });
}

async function api(path, options = {}) {
  for (;;) {
    const response = await fetch(path, { ...options, headers: { ...(options.headers || {}), ...authHeaders() } });
    if (response.status !== 401) return response;
    await askToken(Boolean(token()));
  }
}

async function errorText(response) {
  try { return (await response.json()).error.message; } catch { return response.status + " " + response.statusText; }
}

// ---- helpers ----
const seconds = (s) => (s == null ? "-" : s.toFixed(2) + " s");
const speed = (duration, took) => (took > 0 ? (duration / took).toFixed(1) + "x" : "-");

function download(name, text, type = "text/plain") {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], { type: type + ";charset=utf-8" }));
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

function srtTime(s) {
  const ms = Math.round(s * 1000), p = (n, w = 2) => String(n).padStart(w, "0");
  return `${p(Math.floor(ms / 3600000))}:${p(Math.floor(ms / 60000) % 60)}:${p(Math.floor(ms / 1000) % 60)},${p(ms % 1000, 3)}`;
}
const toSrt = (r) => r.segments.map((s, i) => `${i + 1}\n${srtTime(s.start)} --> ${srtTime(s.end)}\n${s.text}\n`).join("\n");
const baseName = (name) => name.replace(/\.[^.]*$/, "");

// POST one file; `onProgress(fraction)` follows the upload. Resolves to {ok, result|error, took}.
function transcribe(file, name, hotwords, onProgress) {
  return new Promise((resolve) => {
    const form = new FormData();
    form.append("file", file, name);
    form.append("model", "voiceloop");
    form.append("response_format", "verbose_json");
    if (hotwords) form.append("hotwords", hotwords);
    const xhr = new XMLHttpRequest();
    const started = performance.now();
    xhr.open("POST", "/v1/audio/transcriptions");
    if (token()) xhr.setRequestHeader("Authorization", "Bearer " + token());
    xhr.upload.onprogress = (e) => { if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total); };
    xhr.onload = async () => {
      const took = (performance.now() - started) / 1000;
      if (xhr.status === 401) { await askToken(Boolean(token())); resolve(transcribe(file, name, hotwords, onProgress)); return; }
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status === 200 && body) resolve({ ok: true, result: body, took });
      else resolve({ ok: false, error: (body && body.error && body.error.message) || `${xhr.status} ${xhr.statusText}`, took });
    };
    xhr.onerror = () => resolve({ ok: false, error: "network error", took: 0 });
    xhr.send(form);
  });
}

// ---- pages ----
function showPage(name) {
  document.querySelectorAll("#tabs button").forEach((b) => b.classList.toggle("active", b.dataset.page === name));
  document.querySelectorAll(".page").forEach((p) => p.classList.toggle("active", p.id === "page-" + name));
  location.hash = name;
  if (name === "system") loadSystem();
  if (name === "settings") loadSettings();
}

let fileResult = null;
async function runFile() {
  const file = $("#file-input").files[0];
  $("#file-error").textContent = "";
  if (!file) { $("#file-error").textContent = t("file.none"); return; }
  $("#file-go").disabled = true;
  $("#file-result").hidden = true;
  $("#file-error").textContent = t("working");
  const r = await transcribe(file, file.name, $("#file-hotwords").value.trim());
  $("#file-go").disabled = false;
  $("#file-error").textContent = r.ok ? "" : file.name + ": " + r.error;
  if (!r.ok) return;
  fileResult = { name: file.name, ...r.result };
  $("#file-text").textContent = r.result.text;
  $("#file-duration").textContent = seconds(r.result.duration);
  $("#file-time").textContent = seconds(r.took);
  $("#file-speed").textContent = speed(r.result.duration, r.took);
  $("#file-result").hidden = false;
}

function downloadFile(fmt) {
  if (!fileResult) return;
  const stem = baseName(fileResult.name);
  if (fmt === "txt") download(stem + ".txt", fileResult.text + "\n");
  if (fmt === "json") download(stem + ".json", JSON.stringify(fileResult, null, 2), "application/json");
  if (fmt === "srt") download(stem + ".srt", toSrt(fileResult));
}

let batchResults = [];
async function runBatch() {
  const files = [...$("#batch-input").files];
  const body = $("#batch-table tbody");
  body.replaceChildren();
  batchResults = [];
  $("#batch-go").disabled = true;
  const rows = files.map((file) => {
    const tr = document.createElement("tr");
    const cells = [file.name, "", t("batch.waiting"), "", ""].map((text) => {
      const td = document.createElement("td"); td.textContent = text; tr.append(td); return td;
    });
    body.append(tr);
    return { tr, cells };
  });
  for (const [i, file] of files.entries()) {
    const { tr, cells } = rows[i];
    const bar = document.createElement("progress");
    bar.max = 1; bar.value = 0;
    cells[2].replaceChildren(bar);
    const r = await transcribe(file, file.name, $("#batch-hotwords").value.trim(), (f) => { bar.value = f; });
    if (r.ok) {
      cells[1].textContent = seconds(r.result.duration);
      cells[2].textContent = r.result.text;
      cells[3].textContent = seconds(r.took);
      cells[4].textContent = speed(r.result.duration, r.took);
      tr.className = "done";
      batchResults.push({ file: file.name, duration: r.result.duration, text: r.result.text, took: r.took, segments: r.result.segments });
    } else {
      cells[2].textContent = r.error;
      tr.className = "failed";
      batchResults.push({ file: file.name, error: r.error });
    }
  }
  const bad = batchResults.filter((r) => r.error).length;
  $("#batch-summary").textContent = t("batch.summary", { ok: batchResults.length - bad, bad });
  $("#batch-go").disabled = false;
  $("#batch-json").disabled = $("#batch-tsv").disabled = batchResults.length === 0;
}

function downloadBatch(fmt) {
  if (fmt === "json") { download("transcripts.json", JSON.stringify(batchResults, null, 2), "application/json"); return; }
  const clean = (s) => String(s ?? "").replace(/[\t\n]/g, " ");
  const lines = ["file\tduration_s\tprocessing_s\ttext\terror"].concat(batchResults.map((r) =>
    [r.file, r.duration ?? "", r.took ? r.took.toFixed(3) : "", r.text ?? "", r.error ?? ""].map(clean).join("\t")));
  download("transcripts.tsv", lines.join("\n") + "\n", "text/tab-separated-values");
}

// ---- live: browser microphone ----
let recorder = null;
async function toggleRecording() {
  $("#live-error").textContent = "";
  if (recorder) { recorder.stop(); return; }
  let stream;
  try { stream = await navigator.mediaDevices.getUserMedia({ audio: true }); }
  catch (e) { $("#live-error").textContent = t("live.nomic") + e.message; return; }
  const chunks = [];
  recorder = new MediaRecorder(stream);
  recorder.ondataavailable = (e) => chunks.push(e.data);
  recorder.onstop = async () => {
    stream.getTracks().forEach((track) => track.stop());
    const type = recorder.mimeType || "audio/webm";
    recorder = null;
    $("#live-record").textContent = t("live.start");
    $("#live-status").textContent = t("working");
    const r = await transcribe(new Blob(chunks, { type }), "recording." + (type.includes("ogg") ? "ogg" : "webm"), "");
    $("#live-status").textContent = "";
    if (!r.ok) { $("#live-error").textContent = r.error; return; }
    const li = document.createElement("li");
    li.textContent = `${r.result.text}  (${seconds(r.result.duration)}, ${speed(r.result.duration, r.took)})`;
    $("#live-results").prepend(li);
  };
  recorder.start();
  $("#live-record").textContent = t("live.stop");
  $("#live-status").textContent = t("live.recording");
}

// ---- live: the assistant's turns, from the server-sent event stream ----
function showState(state) {
  const badge = $("#state");
  badge.className = "badge " + (state || "");
  badge.dataset.state = state || "none";
  badge.textContent = t("state." + (state || "none"));
}

function showTurn(turn) {
  const li = document.createElement("li");
  const heard = document.createElement("div");
  heard.textContent = `${t("live.heard")}: ${turn.user_text || "-"}`;
  const said = document.createElement("div");
  said.className = "said";
  said.textContent = `${t("live.said")}: ${turn.heard_text || turn.reply_text || "-"} ${turn.interrupted ? t("live.interrupted") : ""}`;
  const meta = document.createElement("div");
  meta.className = "meta";
  const m = turn.marks || {};
  meta.textContent = `#${turn.turn}  ${t("live.latency")} ${m.playback_start != null ? m.playback_start.toFixed(2) + " s" : "-"}` +
    `  asr ${turn.asr_s != null ? turn.asr_s.toFixed(2) + " s" : "-"}${turn.error ? "  " + turn.error : ""}`;
  li.append(heard, said, meta);
  $("#live-turns").prepend(li);
}

async function followEvents() {
  const status = await (await api("/status")).json();
  if (status.mode !== "run") { $("#live-dialogue-note").textContent = t("live.noDialogue"); showState(null); return; }
  status.recent_turns.forEach(showTurn);
  for (;;) {
    try {
      const response = await api("/events");
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end); buffer = buffer.slice(end + 2);
          const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
          if (!data) continue;
          const event = JSON.parse(data);
          if (event.type === "state") showState(event.state);
          if (event.type === "turn") showTurn(event);
        }
      }
    } catch (e) { /* server restarting: try again */ }
    await new Promise((r) => setTimeout(r, 2000));
  }
}

// ---- system ----
function kvRow(body, key, value) {
  const tr = document.createElement("tr");
  const th = document.createElement("th"); th.textContent = t("sys." + key);
  const td = document.createElement("td"); td.textContent = value;
  tr.append(th, td); body.append(tr);
}

async function loadSystem() {
  $("#system-error").textContent = "";
  const response = await api("/api/sysinfo");
  if (!response.ok) { $("#system-error").textContent = await errorText(response); return; }
  const r = await response.json();
  const body = $("#system-table tbody");
  body.replaceChildren();
  const none = t("sys.none");
  kvRow(body, "config_file", r.config_file || t("settings.defaults"));
  kvRow(body, "asr_engine", r.asr_engine);
  kvRow(body, "models", r.models.map((m) => `${m.role}: ${m.name} → ${m.path || "MISSING - " + m.problem}`).join("\n"));
  kvRow(body, "device", r.device);
  kvRow(body, "torch", `${r.torch_version || none} (CUDA ${r.cuda_version || none})`);
  kvRow(body, "gpus", r.gpus.length ? r.gpus.map((g) => `${g.index}: ${g.name}, ${g.total_mib} MiB, ${g.free_mib} MiB free`).join("\n") : none);
  kvRow(body, "cpu_model", r.cpu_model);
  kvRow(body, "cpu_cores", `${r.cpu_cores_physical ?? "?"} / ${r.cpu_cores_logical}`);
  kvRow(body, "ram", `${r.ram_total_mib} MiB, ${r.ram_available_mib} MiB free`);
  kvRow(body, "python", r.python);
  kvRow(body, "platform", r.platform);
  kvRow(body, "libraries", Object.entries(r.libraries).filter(([, v]) => v).map(([k, v]) => `${k} ${v}`).join(", "));
  kvRow(body, "audio_inputs", r.audio_inputs.join(", ") || r.audio_problem || none);
  kvRow(body, "audio_outputs", r.audio_outputs.join(", ") || r.audio_problem || none);
}

// ---- settings ----
async function loadSettings() {
  const [hot, settings] = await Promise.all([api("/api/hotwords"), api("/api/settings")]);
  const h = await hot.json();
  $("#hotwords-text").value = h.hotwords.join("\n");
  $("#hotwords-file").textContent = h.file ? t("settings.file") + h.file : "asr.hotwords_file = \"\"";
  const s = await settings.json();
  $("#config-file").textContent = t("settings.configFile") + (s.config_file || t("settings.defaults"));
  $("#config-view").textContent = JSON.stringify(s.config, null, 2);
}

async function saveHotwords() {
  const words = $("#hotwords-text").value.split(/[\n,，]+/).map((w) => w.trim()).filter(Boolean);
  $("#hotwords-status").textContent = "";
  const response = await api("/api/hotwords", {
    method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ hotwords: words }),
  });
  if (!response.ok) { $("#hotwords-status").textContent = await errorText(response); return; }
  $("#hotwords-text").value = (await response.json()).hotwords.join("\n");
  $("#hotwords-status").textContent = t("settings.saved");
}

// ---- wiring ----
function init() {
  applyLanguage();
  $("#lang").onchange = () => { lang = $("#lang").value; localStorage.setItem("voiceloop.lang", lang); applyLanguage(); showState($("#state").dataset.state === "none" ? null : $("#state").dataset.state); };
  document.querySelectorAll("#tabs button").forEach((b) => { b.onclick = () => showPage(b.dataset.page); });
  $("#token-button").onclick = () => askToken(false);
  $("#file-go").onclick = runFile;
  document.querySelectorAll("[data-download]").forEach((b) => { b.onclick = () => downloadFile(b.dataset.download); });
  const drop = $("#file-drop");
  drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove("over"); $("#file-input").files = e.dataTransfer.files; };
  $("#batch-go").onclick = runBatch;
  $("#batch-json").onclick = () => downloadBatch("json");
  $("#batch-tsv").onclick = () => downloadBatch("tsv");
  $("#live-record").onclick = toggleRecording;
  $("#system-refresh").onclick = loadSystem;
  $("#hotwords-save").onclick = saveHotwords;
  const page = location.hash.slice(1);
  showPage(["file", "batch", "live", "system", "settings"].includes(page) ? page : "file");
  followEvents();
}

init();
