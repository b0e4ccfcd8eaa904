/// Linux's per-process memory figures from /proc/self: what `compare` and the soak bench report.
module PatchDescent.Search.Rss

/// The process's resident set size in bytes now; None where /proc is missing.
val current: unit -> int64 option
/// Resets the peak to the current size and returns that size; None where /proc is missing or read-only.
val start: unit -> int64 option
/// The peak resident size above `start`'s figure since it was taken (0 when the lazily synced peak reads lower);
/// None when either is unknown.
val peakSince: startBytes: int64 option -> int64 option
