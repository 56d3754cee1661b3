// Runtime configuration. `make publish` overwrites this file in the bucket with the stack's outputs;
// the local gateway (`make run`) serves its own. apiBase "" means "the page's own origin".
window.DETECTOR_CONFIG = {
  apiBase: "",
};
