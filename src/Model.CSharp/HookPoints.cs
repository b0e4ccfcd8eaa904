namespace PatchDescent.Model;

/// <summary>TransformerLens hook names, built in one place so a researcher's vocabulary works unchanged.</summary>
public static class HookPoints
{
    /// <summary>Token embeddings, [batch, pos, d_model].</summary>
    public const string Embed = "hook_embed";
    /// <summary>Position embeddings, [batch, pos, d_model].</summary>
    public const string PosEmbed = "hook_pos_embed";
    /// <summary>Final norm's output, scale applied (LayerNorm or RMSNorm), [batch, pos, d_model].</summary>
    public const string LnFinalNormalized = "ln_final.hook_normalized";

    /// <summary>Residual stream entering block <paramref name="layer"/>, [batch, pos, d_model].</summary>
    public static string ResidPre(int layer) => $"blocks.{layer}.hook_resid_pre";
    /// <summary>First norm's output, scale applied (GPT-2's LayerNorm, the Llama family's RMSNorm), [batch, pos, d_model].</summary>
    public static string Ln1Normalized(int layer) => $"blocks.{layer}.ln1.hook_normalized";
    /// <summary>Queries, [batch, pos, head, d_head].</summary>
    public static string Q(int layer) => $"blocks.{layer}.attn.hook_q";
    /// <summary>Keys, [batch, pos, head, d_head] (for grouped attention one per query head, ungrouped as TransformerLens's ungroup_grouped_query_attention).</summary>
    public static string K(int layer) => $"blocks.{layer}.attn.hook_k";
    /// <summary>Values, [batch, pos, head, d_head].</summary>
    public static string V(int layer) => $"blocks.{layer}.attn.hook_v";
    /// <summary>Queries after the rotary embedding (Llama family), [batch, pos, head, d_head].</summary>
    public static string RotQ(int layer) => $"blocks.{layer}.attn.hook_rot_q";
    /// <summary>Keys after the rotary embedding (Llama family, ungrouped), [batch, pos, head, d_head].</summary>
    public static string RotK(int layer) => $"blocks.{layer}.attn.hook_rot_k";
    /// <summary>Attention probabilities, [batch, head, query, key].</summary>
    public static string Pattern(int layer) => $"blocks.{layer}.attn.hook_pattern";
    /// <summary>Pattern-weighted values, [batch, pos, head, d_head].</summary>
    public static string Z(int layer) => $"blocks.{layer}.attn.hook_z";
    /// <summary>Each head's output after W_O, without b_O, [batch, pos, head, d_model]; computed only when hooked or cached.</summary>
    public static string Result(int layer) => $"blocks.{layer}.attn.hook_result";
    /// <summary>Attention output (sum of head results plus b_O), [batch, pos, d_model].</summary>
    public static string AttnOut(int layer) => $"blocks.{layer}.hook_attn_out";
    /// <summary>Residual after attention, before the MLP, [batch, pos, d_model].</summary>
    public static string ResidMid(int layer) => $"blocks.{layer}.hook_resid_mid";
    /// <summary>Second norm's output, scale applied (LayerNorm or RMSNorm), [batch, pos, d_model].</summary>
    public static string Ln2Normalized(int layer) => $"blocks.{layer}.ln2.hook_normalized";
    /// <summary>MLP pre-activation (a gated MLP's gate branch, x W_gate), [batch, pos, d_mlp].</summary>
    public static string MlpPre(int layer) => $"blocks.{layer}.mlp.hook_pre";
    /// <summary>A gated MLP's linear branch, x W_up (Llama family), [batch, pos, d_mlp].</summary>
    public static string MlpPreLinear(int layer) => $"blocks.{layer}.mlp.hook_pre_linear";
    /// <summary>MLP post-activation (gated: silu(pre) * pre_linear), [batch, pos, d_mlp].</summary>
    public static string MlpPost(int layer) => $"blocks.{layer}.mlp.hook_post";
    /// <summary>MLP output, [batch, pos, d_model].</summary>
    public static string MlpOut(int layer) => $"blocks.{layer}.hook_mlp_out";
    /// <summary>Residual leaving block <paramref name="layer"/>, [batch, pos, d_model].</summary>
    public static string ResidPost(int layer) => $"blocks.{layer}.hook_resid_post";

    /// <summary>Every hook point of a model of this shape, in the order the forward pass reaches them.</summary>
    public static IReadOnlyList<string> All(Gpt2Config config)
    {
        var names = new List<string> { Embed, PosEmbed };
        for (var l = 0; l < config.Layers; l++)
        {
            names.AddRange([ResidPre(l), Ln1Normalized(l), Q(l), K(l), V(l), Pattern(l), Z(l), Result(l), AttnOut(l)]);
            if (!config.AttnOnly)
                names.AddRange([ResidMid(l), Ln2Normalized(l), MlpPre(l), MlpPost(l), MlpOut(l)]);
            names.Add(ResidPost(l));
        }
        names.Add(LnFinalNormalized);
        return names;
    }

    /// <summary>Every hook point of a Llama-family model of this shape, in the order the forward pass reaches them (no position embedding; rotary q and k).</summary>
    public static IReadOnlyList<string> All(LlamaConfig config)
    {
        var names = new List<string> { Embed };
        for (var l = 0; l < config.Layers; l++)
            names.AddRange([
                ResidPre(l), Ln1Normalized(l), Q(l), K(l), V(l), RotQ(l), RotK(l), Pattern(l), Z(l), Result(l), AttnOut(l),
                ResidMid(l), Ln2Normalized(l), MlpPre(l), MlpPreLinear(l), MlpPost(l), MlpOut(l), ResidPost(l)]);
        names.Add(LnFinalNormalized);
        return names;
    }
}
