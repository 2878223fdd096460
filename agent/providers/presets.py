"""The preset registry: every LLM service airi knows by name, and the request each one takes.

A streamer names a provider and gives a key; the preset supplies the rest (base URL, auth
header, attribution headers, default model). ``request_for`` is the single place that turns a
preset into a URL and headers, so the adapters and the tests agree on what goes on the wire.

Base URLs and models were checked against each service's documentation (or a well-kept client
library that quotes it) in November 2026. Presets whose URL could not be confirmed that way say
so in ``note`` and carry ``confirmed=False``; `airi providers list` shows them as such.
"""

from __future__ import annotations

import difflib
from typing import Literal, NamedTuple
from urllib.parse import quote

import msgspec

Kind = Literal["openai", "anthropic", "autonomous", "custom"]
Auth = Literal["bearer", "x-api-key", "api-key", "none"]

ANTHROPIC_VERSION = "2023-06-01"
# OpenRouter and Featherless rank apps by these. The URL is the project's name until it has a
# public home page; OpenRouter tracks localhost-style referers when a title is sent too.
ATTRIBUTION_URL = "http://localhost/airi"
ATTRIBUTION_TITLE = "airi"

_OPENAI_CHAT = "/chat/completions"
_ANTHROPIC_CHAT = "/v1/messages"


class Capabilities(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a service offers beyond one-shot chat, as its documentation states."""

    streaming: bool = True
    tools: bool = True
    embeddings: bool = False
    models: bool = True  # GET {base}/models lists the served models


class Preset(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One named LLM service: where it lives, how it wants the key, and what it can do."""

    name: str
    display_name: str
    kind: Kind
    base_url: str  # empty for `custom` kinds (the user supplies it) and `autonomous`
    default_model: str  # empty for local servers: they serve whatever model is loaded
    auth: Auth = "bearer"
    key_required: bool = True
    env_aliases: tuple[str, ...] = ()  # the service's own variable names, after AIRI_<NAME>_...
    headers: tuple[tuple[str, str], ...] = ()
    local: bool = False
    chat_path: str = ""  # empty: the kind's usual path; may hold {model}
    capabilities: Capabilities = Capabilities()
    confirmed: bool = True
    note: str = ""

    @property
    def env_vars(self) -> tuple[str, ...]:
        """Environment variables that may hold this preset's key, in order of preference."""
        if self.auth == "none":
            return ()
        own = f"AIRI_{self.name.upper().replace('-', '_')}_API_KEY"
        return (own, *self.env_aliases)

    @property
    def path(self) -> str:
        if self.chat_path:
            return self.chat_path
        return _ANTHROPIC_CHAT if self.kind == "anthropic" else _OPENAI_CHAT


class ChatTarget(NamedTuple):
    """Where a chat call goes and the headers it carries (the body is the adapter's)."""

    url: str
    headers: dict[str, str]


class PresetError(ValueError):
    """A preset cannot make the request asked of it; the message says what to do."""


# --- the registry --------------------------------------------------------------------------


def _hosted(
    name: str,
    display: str,
    base_url: str,
    model: str,
    *aliases: str,
    **extra: object,
) -> Preset:
    return msgspec.convert(
        {"name": name, "display_name": display, "kind": "openai", "base_url": base_url,
         "default_model": model, "env_aliases": aliases, **extra},
        Preset,
    )  # fmt: skip


def _local(name: str, display: str, port: int, *aliases: str, **extra: object) -> Preset:
    # Local servers take an optional key (vLLM, llama-server, LocalAI... all have --api-key);
    # it is sent as a bearer token only when one is configured.
    return msgspec.convert(
        {"name": name, "display_name": display, "kind": "openai", "local": True,
         "base_url": f"http://127.0.0.1:{port}/v1", "default_model": "",
         "key_required": False, "env_aliases": aliases, **extra},
        Preset,
    )  # fmt: skip


_NO_TOOLS = {"tools": False}
_EMBEDS = {"embeddings": True}
_ATTRIBUTION = (("HTTP-Referer", ATTRIBUTION_URL), ("X-Title", ATTRIBUTION_TITLE))

PRESETS: tuple[Preset, ...] = (
    # --- the big hosted APIs ---
    _hosted("openai", "OpenAI", "https://api.openai.com/v1", "gpt-4.1-mini", "OPENAI_API_KEY",
            capabilities=_EMBEDS),
    Preset(name="anthropic", display_name="Anthropic (Claude)", kind="anthropic",
           base_url="https://api.anthropic.com", default_model="claude-haiku-4-5",
           auth="x-api-key", env_aliases=("ANTHROPIC_API_KEY",),
           headers=(("anthropic-version", ANTHROPIC_VERSION),)),
    _hosted("gemini", "Google Gemini (OpenAI-compatible)",
            "https://generativelanguage.googleapis.com/v1beta/openai/", "gemini-2.5-flash",
            "GEMINI_API_KEY", "GOOGLE_API_KEY", capabilities=_EMBEDS),
    _hosted("deepseek", "DeepSeek", "https://api.deepseek.com", "deepseek-v4-flash",
            "DEEPSEEK_API_KEY",
            note="deepseek-chat/deepseek-reasoner were retired on 2026-07-24."),
    Preset(name="deepseek-anthropic", display_name="DeepSeek (Anthropic-compatible)",
           kind="anthropic", base_url="https://api.deepseek.com/anthropic",
           default_model="deepseek-v4-flash", auth="x-api-key", env_aliases=("DEEPSEEK_API_KEY",),
           headers=(("anthropic-version", ANTHROPIC_VERSION),),
           capabilities=Capabilities(embeddings=False, models=False)),
    _hosted("mistral", "Mistral AI", "https://api.mistral.ai/v1", "mistral-small-latest",
            "MISTRAL_API_KEY", capabilities=_EMBEDS),
    _hosted("groq", "Groq", "https://api.groq.com/openai/v1", "llama-3.3-70b-versatile",
            "GROQ_API_KEY"),
    _hosted("xai", "xAI (Grok)", "https://api.x.ai/v1", "grok-3-mini", "XAI_API_KEY"),
    _hosted("cohere", "Cohere (compatibility API)", "https://api.cohere.ai/compatibility/v1",
            "command-a-03-2025", "COHERE_API_KEY", "CO_API_KEY",
            capabilities=Capabilities(embeddings=True, models=False),
            note="Rejects stream_options: adapters must not send it."),
    _hosted("perplexity", "Perplexity (Sonar)", "https://api.perplexity.ai", "sonar",
            "PERPLEXITY_API_KEY", "PPLX_API_KEY",
            capabilities=Capabilities(tools=False, models=False)),
    # --- routers and gateways ---
    _hosted("openrouter", "OpenRouter", "https://openrouter.ai/api/v1", "openai/gpt-4o-mini",
            "OPENROUTER_API_KEY",
            # X-Title is the name older docs use; X-OpenRouter-Title the current one.
            headers=(*_ATTRIBUTION, ("X-OpenRouter-Title", ATTRIBUTION_TITLE))),
    _hosted("nanogpt", "NanoGPT", "https://nano-gpt.com/api/v1", "openai/gpt-5.2",
            "NANOGPT_API_KEY", "NANO_GPT_API_KEY", capabilities=_EMBEDS),
    _hosted("vercel", "Vercel AI Gateway", "https://ai-gateway.vercel.sh/v1",
            "openai/gpt-4o-mini", "AI_GATEWAY_API_KEY"),
    _hosted("huggingface", "Hugging Face Inference Providers", "https://router.huggingface.co/v1",
            "openai/gpt-oss-20b", "HF_TOKEN"),
    _hosted("github", "GitHub Models", "https://models.github.ai/inference",
            "openai/gpt-4.1-mini", "GITHUB_TOKEN",
            headers=(("X-GitHub-Api-Version", "2022-11-28"),),
            note="The token needs the models:read permission."),
    _hosted("302ai", "302.AI", "https://api.302.ai/v1", "gpt-4o-mini", confirmed=False,
            note="Base URL and model from memory: not confirmed against 302.AI's docs."),
    _hosted("pollinations", "Pollinations", "https://gen.pollinations.ai/v1", "openai",
            "POLLINATIONS_API_KEY",
            note="text.pollinations.ai/openai is the legacy endpoint; keys from "
                 "enter.pollinations.ai. The POLLINATIONS_API_KEY name is ours."),
    # --- open-model hosts ---
    _hosted("together", "Together AI", "https://api.together.xyz/v1",
            "meta-llama/Llama-3.3-70B-Instruct-Turbo", "TOGETHER_API_KEY", capabilities=_EMBEDS),
    _hosted("fireworks", "Fireworks AI", "https://api.fireworks.ai/inference/v1",
            "accounts/fireworks/models/llama-v3p3-70b-instruct", "FIREWORKS_API_KEY",
            capabilities=_EMBEDS),
    _hosted("cerebras", "Cerebras", "https://api.cerebras.ai/v1", "llama3.1-8b",
            "CEREBRAS_API_KEY"),
    _hosted("nvidia", "NVIDIA NIM (API catalog)", "https://integrate.api.nvidia.com/v1",
            "meta/llama-3.3-70b-instruct", "NVIDIA_API_KEY", "NIM_API_KEY", capabilities=_EMBEDS),
    _hosted("deepinfra", "DeepInfra", "https://api.deepinfra.com/v1/openai",
            "meta-llama/Llama-3.3-70B-Instruct-Turbo", "DEEPINFRA_API_KEY", "DEEPINFRA_TOKEN",
            capabilities=_EMBEDS),
    _hosted("hyperbolic", "Hyperbolic", "https://api.hyperbolic.xyz/v1",
            "meta-llama/Llama-3.3-70B-Instruct", "HYPERBOLIC_API_KEY", confirmed=False,
            note="Base URL from memory: not confirmed against Hyperbolic's docs."),
    _hosted("novita", "Novita AI", "https://api.novita.ai/openai/v1",
            "deepseek/deepseek-v3-0324", "NOVITA_API_KEY"),
    _hosted("nebius", "Nebius Token Factory", "https://api.tokenfactory.nebius.com/v1",
            "meta-llama/Llama-3.3-70B-Instruct", "NEBIUS_API_KEY", capabilities=_EMBEDS,
            note="Formerly api.studio.nebius.ai."),
    _hosted("sambanova", "SambaNova Cloud", "https://api.sambanova.ai/v1",
            "Meta-Llama-3.3-70B-Instruct", "SAMBANOVA_API_KEY"),
    _hosted("featherless", "Featherless AI", "https://api.featherless.ai/v1", "Qwen/Qwen3-32B",
            "FEATHERLESS_API_KEY", headers=_ATTRIBUTION),
    _hosted("chutes", "Chutes", "https://llm.chutes.ai/v1", "Qwen/Qwen3-32B-TEE",
            "CHUTES_API_KEY", "CHUTES_API_TOKEN"),
    _hosted("scaleway", "Scaleway Generative APIs", "https://api.scaleway.ai/v1",
            "llama-3.3-70b-instruct", "SCW_SECRET_KEY", capabilities=_EMBEDS),
    _hosted("ovh", "OVHcloud AI Endpoints", "https://oai.endpoints.kepler.ai.cloud.ovh.net/v1",
            "gpt-oss-120b", "OVH_AI_ENDPOINTS_ACCESS_TOKEN", "OVHCLOUD_API_KEY",
            key_required=False, note="Works without a key at a lower rate limit."),
    _hosted("wandb", "W&B Inference (CoreWeave)", "https://api.inference.wandb.ai/v1",
            "meta-llama/Llama-3.1-8B-Instruct", "WANDB_API_KEY"),
    # --- Chinese platforms ---
    _hosted("zhipu", "Zhipu BigModel (GLM)", "https://open.bigmodel.cn/api/paas/v4",
            "glm-4-flash", "ZHIPUAI_API_KEY", "ZHIPU_API_KEY", capabilities=_EMBEDS),
    _hosted("zai", "Z.ai (GLM, international)", "https://api.z.ai/api/paas/v4", "glm-4.5-flash",
            "ZAI_API_KEY", "GLM_API_KEY"),
    _hosted("moonshot", "Moonshot AI (Kimi)", "https://api.moonshot.ai/v1", "kimi-k2.5",
            "MOONSHOT_API_KEY"),
    _hosted("moonshot-cn", "Moonshot AI (Kimi, China)", "https://api.moonshot.cn/v1",
            "kimi-k2.5", "MOONSHOT_API_KEY"),
    _hosted("siliconflow", "SiliconFlow", "https://api.siliconflow.com/v1", "Qwen/Qwen3-8B",
            "SILICONFLOW_API_KEY", capabilities=_EMBEDS),
    _hosted("siliconflow-cn", "SiliconFlow (China)", "https://api.siliconflow.cn/v1",
            "Qwen/Qwen3-8B", "SILICONFLOW_API_KEY", capabilities=_EMBEDS),
    _hosted("dashscope", "Qwen / DashScope (China)",
            "https://dashscope.aliyuncs.com/compatible-mode/v1", "qwen-plus",
            "DASHSCOPE_API_KEY", capabilities=_EMBEDS),
    _hosted("dashscope-intl", "Qwen / DashScope (international)",
            "https://dashscope-intl.aliyuncs.com/compatible-mode/v1", "qwen-plus",
            "DASHSCOPE_API_KEY", capabilities=_EMBEDS),
    _hosted("minimax", "MiniMax", "https://api.minimax.io/v1", "MiniMax-M2.5",
            "MINIMAX_API_KEY"),
    _hosted("minimax-cn", "MiniMax (China)", "https://api.minimaxi.com/v1", "MiniMax-M2.5",
            "MINIMAX_API_KEY"),
    _hosted("stepfun", "StepFun", "https://api.stepfun.com/v1", "step-2-mini",
            "STEPFUN_API_KEY", "STEP_API_KEY"),
    _hosted("volcengine", "Volcengine Ark (Doubao)", "https://ark.cn-beijing.volces.com/api/v3",
            "doubao-seed-1-6-flash-250828", "ARK_API_KEY", "VOLCANO_ENGINE_API_KEY",
            capabilities=_EMBEDS, note="The model may also be an endpoint id (ep-...)."),
    _hosted("hunyuan", "Tencent Hunyuan", "https://api.hunyuan.cloud.tencent.com/v1",
            "hunyuan-turbos-latest", "HUNYUAN_API_KEY", capabilities=_EMBEDS),
    _hosted("baichuan", "Baichuan", "https://api.baichuan-ai.com/v1", "Baichuan4-Turbo",
            "BAICHUAN_API_KEY", confirmed=False,
            note="Base URL and model from memory: not confirmed against Baichuan's docs."),
    # --- bring your own URL ---
    Preset(name="azure", display_name="Azure OpenAI (your resource)", kind="custom",
           base_url="", default_model="", auth="api-key",
           env_aliases=("AZURE_OPENAI_API_KEY",),
           chat_path="/openai/deployments/{model}/chat/completions?api-version=2024-10-21",
           note="base_url is https://<resource>.openai.azure.com; the model is the "
                "deployment name."),
    Preset(name="custom", display_name="Any OpenAI-compatible server", kind="custom",
           base_url="", default_model="", key_required=False,
           note="Set base_url (ending in /v1 for most servers)."),
    # --- local servers: never leave the box ---
    _local("ollama", "Ollama", 11434, auth="none", default_model="llama3.2"),
    _local("lmstudio", "LM Studio", 1234),
    _local("llamacpp", "llama.cpp server", 8080, "LLAMA_API_KEY"),
    _local("vllm", "vLLM", 8000, "VLLM_API_KEY", capabilities=_EMBEDS),
    _local("sglang", "SGLang", 30000),
    _local("textgen-webui", "text-generation-webui", 5000, capabilities=_NO_TOOLS),
    _local("koboldcpp", "KoboldCpp", 5001, capabilities=_NO_TOOLS),
    _local("localai", "LocalAI", 8080, capabilities=_EMBEDS),
    Preset(name="autonomous", display_name="Autonomous (no network)", kind="autonomous",
           base_url="", default_model="persona", auth="none", key_required=False, local=True,
           capabilities=Capabilities(streaming=True, tools=False, models=False),
           note="Persona templates filled from context; never fails, never calls out."),
)  # fmt: skip

_BY_NAME = {preset.name: preset for preset in PRESETS}


# --- lookups and requests ------------------------------------------------------------------


def lookup(name: str) -> Preset:
    """The preset called ``name`` (case-insensitive); an unknown name suggests close ones."""
    key = name.strip().lower()
    if key in _BY_NAME:
        return _BY_NAME[key]
    close = difflib.get_close_matches(key, list(_BY_NAME), n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(close)}?" if close else ""
    raise PresetError(
        f"no provider preset named {name!r}.{hint} `airi providers list` shows all of them."
    )


def with_base_url(preset: Preset, base_url: str) -> Preset:
    """The same preset pointed at another address (a `custom` server, a proxy, a region)."""
    return msgspec.structs.replace(preset, base_url=base_url)


def request_for(preset: Preset, model: str, api_key: str) -> ChatTarget:
    """The URL and headers of a chat call to ``preset`` (chat completions or messages)."""
    if preset.kind == "autonomous":
        raise PresetError(f"{preset.name} makes no network requests")
    if not preset.base_url:
        raise PresetError(
            f"{preset.name} needs a base_url: set it in the provider's config entry ({preset.note})"
        )
    model = model or preset.default_model
    if "{model}" in preset.path and not model:
        raise PresetError(f"{preset.name} needs a model (for Azure: the deployment name)")
    path = preset.path.format(model=quote(model, safe=""))
    headers = dict(preset.headers)
    headers.update(_auth_headers(preset, api_key))
    return ChatTarget(preset.base_url.rstrip("/") + path, headers)


def _auth_headers(preset: Preset, api_key: str) -> dict[str, str]:
    if not api_key:
        if preset.key_required:
            names = " or ".join(f"${env}" for env in preset.env_vars)
            raise PresetError(f"{preset.name} needs an API key: set {names}")
        return {}
    match preset.auth:
        case "bearer":
            return {"Authorization": f"Bearer {api_key}"}
        case "x-api-key":
            return {"x-api-key": api_key}
        case "api-key":
            return {"api-key": api_key}
        case "none":
            return {}
