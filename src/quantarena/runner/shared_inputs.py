"""What every platform of a cluster run measures from: the FP32 bundle and the cached splits,
prepared once by the driver. A run given them skips preparing and builds and measures exactly as
a local run does; only the machine's own fingerprint is taken again, where the run happens."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from quantarena.config import RunConfig
from quantarena.models.spec import ModelBundle
from quantarena.results.environment import fingerprint
from quantarena.results.schema import Results
from quantarena.runner.plan import PlannedVariant
from quantarena.runner.variant import SplitFiles

#: the split lists a run folder holds, beside the cached arrays they describe
SPLIT_LISTS = ("calibration_split.json", "evaluation_split.json")


@dataclass(frozen=True)
class SharedInputs:
    """The prepared bundle and splits (``files``), the results header that describes them
    (model, data, reference) and the folder holding their split lists."""

    files: SplitFiles
    header: Results
    split_lists: Path

    def bundle(self) -> ModelBundle:
        return ModelBundle.load(self.files.bundle)

    def header_here(self, config: RunConfig, planned: list[PlannedVariant], out: Path) -> Results:
        """The results header of a run on this machine: the shared model and data, this run's
        config, this machine's fingerprint; the split lists copied into ``out``."""
        for name in SPLIT_LISTS:
            shutil.copyfile(self.split_lists / name, out / name)
        return self.header.model_copy(deep=True, update={
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "config": config.model_dump(mode="json"),
            "environment": fingerprint(
                config.threads, config.pin_cpus,
                sorted({pkg for p in planned for pkg in p.toolchain.packages}),
            ),
            "warnings": config.warnings(),
            "variants": [],
        })
