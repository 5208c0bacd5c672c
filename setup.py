"""visual-erm-rl: RL for vision-to-code with a visual-equivalence reward model."""

from setuptools import find_packages, setup

CORE = [
    "numpy",
    "pillow",
    "matplotlib>=3.8",
    "cairosvg>=2.7",
    "svgelements>=1.9",  # SVG resolution for the structural critic (transforms, CSS, <use>, units)
    "tinycss2",  # CSS colour parsing in the structural critic (cairosvg pulls it too)
    "defusedxml>=0.7",
    "playwright>=1.45",
    "markdown-it-py>=3.0",
    "json-repair>=0.30",
    "httpx>=0.27",
    "scipy",
    "scikit-image",
    "pandas",
    "pyarrow",
    "tqdm",
    "rich",
    "psutil",
    "hydra-core>=1.3",
    "omegaconf",
    "fastapi",
    "uvicorn",
    "apted",
    "lxml",  # TEDS parses tables with lxml's HTML parser, as PubTabNet
    "rapidfuzz",
    "beautifulsoup4",
    "transformers",
    "packaging<26",
    "regex",  # Unicode classes (\p{M}) in the table renderer's degenerate-text check
    "cachetools>=5",  # bounded caches (the structural judge's traces)
]

# CORE is what rendering, judging and rewarding need (verm_rl.render / .judge / .reward / .similarity:
# pip install visual-erm-rl); the training stack (Ray actors, the verl recipe, wandb logging) is the
# ``train`` extra, which scripts/setup_env.sh installs.
EXTRAS = {
    # verl pins transformers<5.11; never its cpu/vllm/fsdp extras on CPU (they pin torch 2.11).
    "train": ["ray", "wandb", "verl[verl-core]==0.9.1", "accelerate>=1.0"],  # accelerate: the judge SFT Trainer
    # = verl 0.9.1's vllm extra + flash-attn/deepspeed; the full resolved set: requirements/gpu.lock
    # (flash-attn and deepspeed build against the installed torch: scripts/setup_env.sh --gpu installs them last)
    "gpu": ["verl[vllm]==0.9.1", "vllm==0.24.0", "torch==2.11.0", "torchvision==0.26.0", "torchaudio==2.11.0",
            "transformers==5.9.0", "mbridge==0.15.1", "flash-attn==2.8.3", "deepspeed==0.19.8"],
    # benchmark evaluation: LPIPS (UniSVG) and PDF page rasterising (olmOCR-Bench)
    "eval": ["lpips", "pypdfium2"],
    "dev": ["lpips", "pypdfium2", "pytest>=8", "pytest-asyncio>=0.23", "pytest-timeout", "hypothesis", "ruff"],
}

setup(
    name="visual-erm-rl",
    version="0.1.0",
    description="GRPO for chart/table/SVG-to-code with the Visual-ERM reward, on verl and Ray",
    packages=find_packages(include=["verm_rl*", "reward_workers*", "recipes*"]),
    package_data={"verm_rl": ["prompts/*.txt", "assets/examples/*"]},
    python_requires=">=3.10",
    install_requires=CORE,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["verm-rl=verm_rl.cli:main"]},
)
