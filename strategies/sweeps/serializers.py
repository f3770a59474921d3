"""API serializers of sweeps: the definition, its progress, result rows, folds and a promotion."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from project.kernel.api_fields import AmountField
from strategies.sweeps.models import SWEEP_DEFINITION, Sweep, SweepSet
from strategies.sweeps.selectors import sweep_progress

READ_ONLY = ("id", "status", "error", "created_at", "finished_at", "progress")


class SweepSerializer(serializers.ModelSerializer):
    """A sweep. `space` maps each swept parameter to `{"values": [...]}` or
    `{"min": .., "max": .., "step": ..}`; the kind's schema (/api/strategy-kinds/) judges it,
    with its rules across parameters, and errors come back per parameter."""

    space = serializers.DictField(child=serializers.DictField())
    capital = AmountField(required=False)
    fee_rate = AmountField(required=False)
    overfit_share = serializers.FloatField(min_value=0, max_value=1, required=False)
    progress = serializers.SerializerMethodField()

    class Meta:
        model = Sweep
        fields = (
            "id",
            *SWEEP_DEFINITION,
            "status",
            "error",
            "created_at",
            "finished_at",
            "progress",
        )
        read_only_fields = READ_ONLY
        extra_kwargs = {
            "size": {"min_value": 1, "max_value": 20_000},
            "chunk_size": {"min_value": 1, "max_value": 1000},
            "folds": {"max_value": 50},
            "fold_ratio": {"min_value": 1, "max_value": 20},
            "seed": {"max_value": 2**31 - 1},
            "min_trades": {"max_value": 1_000_000},
        }

    def get_progress(self, sweep: Sweep) -> dict[str, Any]:
        progress = sweep_progress(sweep=sweep)
        return {
            "planned": progress.planned,
            "done": progress.done,
            "failed": progress.failed,
            "percent": progress.percent,
        }


class SweepSetSerializer(serializers.ModelSerializer):
    class Meta:
        model = SweepSet
        fields = ("id", "window", "parameters", "value", "ranked", "figures", "error", "trial")


class FoldSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    in_start = serializers.DateTimeField()
    in_end = serializers.DateTimeField()
    out_end = serializers.DateTimeField()
    best = SweepSetSerializer(allow_null=True)
    out_of_sample = SweepSetSerializer(allow_null=True)
    efficiency = serializers.FloatField(allow_null=True, source="verdict.efficiency")
    overfitted = serializers.BooleanField(allow_null=True, source="verdict.overfitted")
    reason = serializers.CharField(allow_null=True, source="verdict.reason")


class PromoteSerializer(serializers.Serializer):
    set = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    name = serializers.CharField(max_length=100)
    confirm_overfitted = serializers.BooleanField(default=False)


class PromotionSerializer(serializers.Serializer):
    strategy = serializers.IntegerField(source="strategy_id")
    sweep = serializers.IntegerField(source="sweep_id")
    set = serializers.IntegerField(source="sweep_set_id")
    fold = serializers.IntegerField(allow_null=True)
    overfitted = serializers.BooleanField()
