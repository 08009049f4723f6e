// The mean diffraction pattern behind the detector shapes: from the dataset's latest finished
// sum job, or, when there is none, from a sum job this page runs (or joins) and shows
// building up live from the websocket's partial images.

import { fetchNpy } from "./npy.js";
import { JobSocket, jobApi } from "./jobclient.js";
import { resultUrl } from "./resultspanel.js";

/**
 * Calls ``onPartial(array, done, total)`` while a sum job runs, ``onMean(array)`` once the mean
 * frame is there, ``onError(sentence)`` if it cannot be had.
 */
export async function loadMeanFrame(cfg, { onPartial, onMean, onError }) {
  if (cfg.sum_job) {
    try {
      onMean(await fetchNpy(resultUrl(cfg.sum_job, "mean", "npy")));
      return;
    } catch { /* the result may have been deleted: compute it again below */ }
  }
  let job = cfg.sum_job_running ? { id: cfg.sum_job_running } : null;
  try {
    job = job || (await jobApi.submit({ dataset: cfg.dataset.id, analysis: "sum", params: {} }));
  } catch (err) {
    onError(`The mean diffraction pattern could not be computed: ${err.message}`);
    return;
  }
  watchSumJob(job, { onPartial, onMean, onError });
}

function watchSumJob(job, { onPartial, onMean, onError }) {
  let loading = false;
  const finished = async () => {
    socket.close();
    if (loading) return; // the status and the finished message may both say so
    loading = true;
    try {
      onMean(await fetchNpy(resultUrl(job.id, "mean", "npy")));
    } catch (err) {
      onError(`The mean frame could not be loaded: ${err.message}`);
    }
  };
  const socket = new JobSocket(job.ws || `/ws/jobs/${job.id}/`, {
    onPartial: (header, values) => {
      if (header.name !== "mean" || values.length !== header.shape[0] * header.shape[1]) return;
      onPartial({ shape: header.shape, values }, header.done, header.total);
    },
    onMessage: (msg) => {
      const kind = msg.type === "status" ? msg.status : msg.type;
      if (kind === "finished") finished();
      else if (kind === "failed" || kind === "cancelled") {
        onError(`Computing the mean frame ${kind === "failed" ? `failed: ${msg.error}` : "was cancelled"}.`);
      }
    },
  });
}
