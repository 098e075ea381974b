"""The builtin pack's classifier-free guidance, importable without torch (the CLIs show it)."""

# Chosen on the pmg-val tuning set and never on the benchmark (generator model card). Stable
# Diffusion checkpoints want about 7.5. The settings' default
# (config.GeneratorSettings.guidance_scale) is the same number.
BUILTIN_GUIDANCE_SCALE = 3.0
