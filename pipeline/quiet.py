"""Keep the model libraries' progress bars and advice out of operators' logs.

The one home for it: ``immu``'s ``main()`` calls ``quiet_model_libraries()`` before
anything imports transformers or diffusers, and Ray actors, which never run that
``main()``, get ``QUIET_ENV`` as their environment.
"""

from __future__ import annotations

import os
import sys

# Read by the libraries when they are imported.
QUIET_ENV = {
    "TRANSFORMERS_VERBOSITY": "error",
    "DIFFUSERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",  # no fork warnings from tokenizers' thread pool
}


def quiet_model_libraries() -> None:
    """Set ``QUIET_ENV`` (an operator's own values win); libraries already imported are
    told through their APIs."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    if "transformers" in sys.modules:
        import transformers

        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
    if "diffusers" in sys.modules:
        import diffusers

        diffusers.utils.logging.set_verbosity_error()
        diffusers.utils.logging.disable_progress_bar()
