// The browser caller: microphone → token (POST /api/token) → LiveKit room with the agent.
// Shows the live transcript of both sides (the agent's lk.transcription text streams), the
// agent's state (its lk.agent.state attribute) and the level of its voice.
import {
  ConnectionError,
  ConnectionErrorReason,
  DisconnectReason,
  Room,
  RoomEvent,
  Track,
  createAudioAnalyser,
  createLocalAudioTrack,
} from "/vendor/livekit-client.esm.mjs";

const $ = (id) => document.getElementById(id);
const ui = {
  call: $("call"), hangup: $("hangup"), mute: $("mute"), status: $("status"), error: $("error"),
  state: $("agent-state"), stateText: $("agent-state-text"), level: $("agent-level"),
  micLevel: $("mic-level"),
  transcript: $("transcript"), empty: $("transcript-empty"), sink: $("audio-sink"),
};

const STATE_LABELS = {
  initializing: "Getting ready…", idle: "Ready", listening: "Listening",
  thinking: "Thinking…", speaking: "Speaking",
};

let room = null;
let mic = null;
let meter = null; // the agent's voice level
let micMeter = null; // the caller's own microphone level
let endingNote = null; // why the call ended, when the page knows better than the reason code
const segments = new Map(); // transcription segment id → its <li>

function setStatus(text) {
  ui.status.textContent = text;
}

function showError(text) {
  ui.error.textContent = text;
  ui.error.hidden = !text;
}

function setAgentState(state) {
  ui.state.dataset.state = state;
  ui.stateText.textContent = STATE_LABELS[state] ?? "Not connected";
}

function setInCall(inCall) {
  // The focused button is about to be hidden: keyboard users keep their place on its partner.
  const hadFocus = document.activeElement === ui.call || document.activeElement === ui.hangup;
  ui.call.hidden = inCall;
  ui.call.disabled = false;
  ui.hangup.hidden = !inCall;
  ui.mute.disabled = !inCall;
  if (!inCall) {
    ui.mute.setAttribute("aria-pressed", "false");
    ui.mute.textContent = "Mute microphone";
  }
  if (hadFocus) (inCall ? ui.hangup : ui.call).focus();
}

// --- the transcript ------------------------------------------------------------------------

function transcriptLine(segmentId, speaker) {
  let li = segments.get(segmentId);
  if (!li) {
    ui.empty.hidden = true;
    li = document.createElement("li");
    li.dataset.speaker = speaker;
    li.dataset.final = "false";
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = speaker === "you" ? "You" : "Assistant";
    const text = document.createElement("span");
    text.className = "text";
    li.append(who, text);
    ui.transcript.append(li);
    segments.set(segmentId, li);
  }
  return li;
}

function setLineText(li, text, final) {
  li.querySelector(".text").textContent = text;
  if (final) li.dataset.final = "true";
  ui.transcript.parentElement.scrollTop = ui.transcript.parentElement.scrollHeight;
}

// The agent publishes its own words as one growing stream per segment, and the caller's words
// (what it heard) as one stream per update, each carrying the whole text so far.
async function onTranscription(reader, participantInfo) {
  const attrs = reader.info.attributes ?? {};
  const segmentId = attrs["lk.segment_id"] ?? reader.info.id;
  const mine = participantInfo.identity === room?.localParticipant.identity;
  const li = transcriptLine(segmentId, mine ? "you" : "agent");
  try {
    if (mine) {
      setLineText(li, await reader.readAll(), attrs["lk.transcription_final"] === "true");
      return;
    }
    let text = li.querySelector(".text").textContent;
    for await (const chunk of reader) {
      text += chunk;
      setLineText(li, text, false);
    }
    setLineText(li, text, true);
  } catch (err) {
    // A hang-up mid-sentence ends the stream early; what was said so far stays shown.
    setLineText(li, li.querySelector(".text").textContent, true);
    if (room) console.warn("transcription stream ended early:", err?.message ?? err);
  }
}

// --- the agent -----------------------------------------------------------------------------

function agentParticipant() {
  return [...(room?.remoteParticipants.values() ?? [])].find((p) => p.isAgent);
}

function onAgentAttributes(participant) {
  if (!participant.isAgent) return;
  setAgentState(participant.attributes["lk.agent.state"] ?? "initializing");
}

// A <meter> following an audio track's level (an AnalyserNode on a copy of the track).
function levelMeter(track, element) {
  const analyser = createAudioAnalyser(track, { cloneTrack: true });
  const timer = setInterval(() => { element.value = analyser.calculateVolume(); }, 60);
  return { cleanup: () => { clearInterval(timer); analyser.cleanup(); element.value = 0; } };
}

function onTrackSubscribed(track, _publication, participant) {
  if (track.kind !== Track.Kind.Audio) return;
  ui.sink.append(track.attach());
  if (participant.isAgent) {
    meter?.cleanup();
    meter = levelMeter(track, ui.level);
  }
}

function onParticipantConnected(participant) {
  if (participant.isAgent) {
    setStatus("Connected. The assistant is on the line.");
    onAgentAttributes(participant);
  }
}

function onParticipantDisconnected(participant) {
  if (participant.isAgent && room) {
    endingNote = "The assistant ended the call.";
    hangUp();
  }
}

const ENDINGS = {
  [DisconnectReason.CLIENT_INITIATED]: "Call ended.",
  [DisconnectReason.ROOM_DELETED]: "The assistant ended the call.",
  [DisconnectReason.ROOM_CLOSED]: "The assistant ended the call.",
  [DisconnectReason.DUPLICATE_IDENTITY]: "This call was opened in another tab.",
};

function onDisconnected(reason) {
  const ending = endingNote ?? ENDINGS[reason];
  if (ending) setStatus(ending);
  else {
    setStatus("The call was cut off.");
    showError("The connection to the voice server was lost. Press “Start call” to call again.");
  }
  cleanUp();
}

// --- placing and ending the call -----------------------------------------------------------

function micMessage(err) {
  switch (err?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Microphone access was denied. Allow the microphone for this page (the icon in " +
        "the address bar, or your browser's site settings), then press “Start call” again.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No microphone was found. Connect one, then press “Start call” again.";
    case "NotReadableError":
      return "The microphone is busy or blocked by another program. Close it, then try again.";
    default:
      return `The microphone could not be opened (${err?.message ?? err}).`;
  }
}

class CallError extends Error {}

async function fetchToken() {
  let response;
  try {
    response = await fetch("/api/token", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ participant_name: "Web caller" }),
    });
  } catch {
    throw new CallError("The assistant's server can't be reached. Check your connection, " +
      "then press “Start call” again.");
  }
  let body = {};
  try { body = await response.json(); } catch { /* not JSON: reported below */ }
  if (!response.ok || !body.server_url || !body.participant_token) {
    const why = body.error ? `: ${body.error}` : ` (HTTP ${response.status})`;
    throw new CallError(`The server refused to start a call${why}.`);
  }
  return body;
}

async function joinRoom({ server_url: url, participant_token: token }) {
  const r = new Room({ adaptiveStream: false, dynacast: false });
  r.on(RoomEvent.TrackSubscribed, onTrackSubscribed)
    .on(RoomEvent.ParticipantConnected, onParticipantConnected)
    .on(RoomEvent.ParticipantDisconnected, onParticipantDisconnected)
    .on(RoomEvent.ParticipantAttributesChanged, (_changed, p) => onAgentAttributes(p))
    .on(RoomEvent.Disconnected, onDisconnected);
  r.registerTextStreamHandler("lk.transcription", onTranscription);
  room = r;
  try {
    await r.connect(url, token);
  } catch (err) {
    room = null;
    if (err instanceof ConnectionError && err.reason === ConnectionErrorReason.NotAllowed) {
      throw new CallError("The voice server refused the call's access token. Reload the " +
        "page and try again.");
    }
    throw new CallError(`The voice server at ${url} can't be reached. Try again in a ` +
      "moment.");
  }
}

async function startCall() {
  showError("");
  ui.call.disabled = true;
  try {
    setStatus("Opening your microphone…");
    try {
      mic = await createLocalAudioTrack({
        echoCancellation: true, noiseSuppression: true, autoGainControl: true,
      });
    } catch (err) {
      throw new CallError(micMessage(err));
    }
    setStatus("Connecting…");
    await joinRoom(await fetchToken());
    await room.localParticipant.publishTrack(mic);
    micMeter = levelMeter(mic, ui.micLevel);
    await room.startAudio();
    setInCall(true);
    setAgentState("initializing");
    const agent = agentParticipant();
    if (agent) onParticipantConnected(agent);
    else setStatus("Connected. Waiting for the assistant to pick up…");
  } catch (err) {
    setStatus("Not connected.");
    showError(err instanceof CallError ? err.message : `The call failed: ${err?.message ?? err}`);
    await hangUp();
  }
}

function cleanUp() {
  meter?.cleanup();
  micMeter?.cleanup();
  meter = micMeter = null;
  endingNote = null;
  mic?.stop();
  mic = null;
  room = null;
  ui.sink.replaceChildren();
  setAgentState("offline");
  setInCall(false);
}

async function hangUp() {
  const r = room;
  if (r) await r.disconnect(); // fires Disconnected (CLIENT_INITIATED) → cleanUp
  else cleanUp();
}

function toggleMute() {
  if (!mic) return;
  const muted = ui.mute.getAttribute("aria-pressed") !== "true";
  (muted ? mic.mute() : mic.unmute()).then(() => {
    ui.mute.setAttribute("aria-pressed", String(muted));
    ui.mute.textContent = muted ? "Unmute microphone" : "Mute microphone";
    setStatus(muted ? "Your microphone is muted." : "Your microphone is on.");
  });
}

ui.call.addEventListener("click", startCall);
ui.hangup.addEventListener("click", () => { hangUp(); });
ui.mute.addEventListener("click", toggleMute);
document.documentElement.dataset.ready = "true";
