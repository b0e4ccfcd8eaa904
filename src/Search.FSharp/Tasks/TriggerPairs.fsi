/// Clean/corrupted pairs of the trigger task (Bietti et al. 2023), for discovery on a model trained on it: the
/// clean prompt ends at a trigger's second occurrence, so only induction predicts the answer.
module PatchDescent.Search.Tasks.TriggerPairs

open PatchDescent.Search

/// The metric the pairs are scored with: the logit of the answer at the prompt's last position.
val metric: Metric
/// `size` pairs, the same for the same task, size and seed. Each clean prompt is an in-distribution sequence
/// (`TriggerTask.Sample`) cut right after the first trigger that occurs for the second time; its answer is the
/// output token that followed the trigger's first occurrence. The corrupted prompt is the same with that earlier
/// output replaced by a fresh non-trigger token (same length), which is also the wrong answer. Sequences without
/// a repeated trigger are skipped.
val generate: task: TriggerTask -> size: int -> seed: int -> PairDataset
