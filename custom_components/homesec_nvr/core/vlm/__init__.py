"""Vision-language model analyzers (behind the VLMAnalyzer interface).

No analyzer configured means "no VLM": the runner skips the stage with reason
`vlm_not_configured` and the alert policy falls back to the filter-only rule.
"""
