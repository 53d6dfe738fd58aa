"""How S1 products are chosen for a tile: the rule and its thresholds, shown and set in the UI."""

import dagster as dg
from pydantic import Field


class SelectionRulesResource(dg.ConfigurableResource):
    """The product selection rule (and the coverage the check demands)."""

    rule: str = Field(
        default="closest_per_patch",
        description="closest_per_patch (BigEarthNet v1.0: per patch, the product closest in time that "
        "contains it whole) or per_orbit (the original scripts: one pass per relative orbit)",
    )
    max_days: float = Field(default=6.0, description="search ± this many days around the S2 sensing time")
    footprint_margin_m: float = Field(
        default=2000.0, description="inward buffer of product footprints, off the invalid GRD border"
    )
    min_coverage: float = Field(
        default=1.0, description="fraction of the patches in scope that must be covered (blocking check)"
    )

    def config(self):
        """The rule as the science's ``SelectionConfig``."""
        from ben_sen1_assets.archive.selection import SelectionConfig

        return SelectionConfig(rule=self.rule, max_days=self.max_days, footprint_margin_m=self.footprint_margin_m)
