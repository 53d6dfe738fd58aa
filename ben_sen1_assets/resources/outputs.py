"""How tiles are mosaicked and exported, as a resource shown and set in the UI."""

import dagster as dg
from pydantic import Field


class MosaicRulesResource(dg.ConfigurableResource):
    """The mosaicking rule for tiles covered by several products."""

    rule: str = Field(
        default="closest_per_patch",
        description="closest_per_patch (each patch from the product the selection chose), "
        "closest_per_pixel, or mean_linear (mean in linear power, then dB)",
    )
    fill_gaps: bool = Field(default=False, description="closest_per_patch: fill a patch's NaN from other products")

    def config(self):
        """The rule as the science's ``MosaicConfig``."""
        from ben_sen1_assets.outputs.mosaic import MosaicConfig

        return MosaicConfig(rule=self.rule, fill_gaps=self.fill_gaps)
