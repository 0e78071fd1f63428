"""Constants for the bess integration: the domain and every configuration key."""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "bess"
DEFAULT_NAME: Final = "Home battery"

# Sensors (entry data; changed through the reconfigure flow).
CONF_SOC_ENTITY: Final = "soc_entity"
CONF_PRICE_ENTITY: Final = "price_entity"
CONF_SOLAR_FORECAST_ENTITY: Final = "solar_forecast_entity"
CONF_CONSUMPTION_ENTITY: Final = "consumption_entity"
CONF_GRID_IMPORT_METER: Final = "grid_import_meter"
CONF_GRID_EXPORT_METER: Final = "grid_export_meter"
CONF_SOLAR_METER: Final = "solar_meter"
CONF_BATTERY_CHARGE_METER: Final = "battery_charge_meter"
CONF_BATTERY_DISCHARGE_METER: Final = "battery_discharge_meter"

# Battery (entry options; every one tunable in the options flow).
CONF_CAPACITY_KWH: Final = "capacity_kwh"
CONF_MIN_SOC: Final = "min_soc_percent"
CONF_MAX_SOC: Final = "max_soc_percent"
CONF_MAX_CHARGE_KW: Final = "max_charge_kw"
CONF_MAX_DISCHARGE_KW: Final = "max_discharge_kw"
CONF_CHARGE_EFFICIENCY: Final = "charge_efficiency"
CONF_DISCHARGE_EFFICIENCY: Final = "discharge_efficiency"
CONF_CYCLE_COST: Final = "cycle_cost_per_kwh"
CONF_GRID_CHARGING: Final = "grid_charging"
CONF_EXPORT_LIMIT_KW: Final = "export_limit_kw"
CONF_TERMINAL_VALUE: Final = "terminal_value_per_kwh"
# The main fuse or a subscribed power limit: import above it is never planned.
CONF_IMPORT_LIMIT_KW: Final = "import_limit_kw"
# The inverter can curtail solar on command: where exporting costs money the plan may curtail.
CONF_CURTAILMENT: Final = "curtailment"
# The planning period: the price source's own resolution ("auto"), or 15, 30 or 60 minutes.
CONF_PERIOD_MINUTES: Final = "period_minutes"
PERIOD_AUTO: Final = "auto"
PERIOD_CHOICES: Final = (PERIOD_AUTO, "15", "30", "60")

# Price formula (entry options): buy = (spot × multiplier + markup) × VAT + fixed fee;
# sell = spot × export multiplier + export compensation.
CONF_PRICE_MULTIPLIER: Final = "price_multiplier"
CONF_PRICE_MARKUP: Final = "price_markup"
CONF_PRICE_VAT: Final = "price_vat_factor"
CONF_PRICE_FIXED_FEE: Final = "price_fixed_fee"
CONF_EXPORT_MULTIPLIER: Final = "export_multiplier"
CONF_EXPORT_COMPENSATION: Final = "export_compensation"

# Consumption forecast (entry options).
CONF_CONSUMPTION_DAYS: Final = "consumption_history_days"
CONF_FALLBACK_CONSUMPTION_KWH: Final = "fallback_consumption_kwh"

# Stored history (entry options): days of hourly detail; older days are kept as daily totals.
CONF_KEEP_HISTORY_DAYS: Final = "keep_history_days"

# Control (entry options).
CONF_CONTROL_MODE: Final = "control_mode"
CONTROL_MONITOR: Final = "monitor"
CONTROL_ENTITIES: Final = "entities"
CONTROL_SCRIPT: Final = "script"
CONTROL_GROWATT: Final = "growatt"
CONTROL_MODES: Final = (CONTROL_MONITOR, CONTROL_ENTITIES, CONTROL_SCRIPT, CONTROL_GROWATT)
CONF_WORK_MODE_SELECT: Final = "work_mode_select"
# One option of the work-mode select per intent: f"{CONF_MODE_OPTION_PREFIX}{intent}".
CONF_MODE_OPTION_PREFIX: Final = "mode_option_"
CONF_CHARGE_POWER_NUMBER: Final = "charge_power_number"
CONF_DISCHARGE_POWER_NUMBER: Final = "discharge_power_number"
CONF_GRID_CHARGE_SWITCH: Final = "grid_charge_switch"
# An export-limit number (0 while curtailing, its maximum otherwise) or a curtail switch.
CONF_CURTAIL_ENTITY: Final = "curtail_entity"
CONF_CONTROL_SCRIPT: Final = "control_script"
CONF_GROWATT_DEVICE_ID: Final = "growatt_device_id"
# What bess commands when it has no plan for now (a failed plan, missing data).
CONF_SAFE_MODE: Final = "safe_mode"
SAFE_MODE_SELF_CONSUMPTION: Final = "self_consumption"  # cover the load from the battery
SAFE_MODE_HOLD: Final = "hold"  # neither charge from the grid nor discharge
SAFE_MODES: Final = (SAFE_MODE_SELF_CONSUMPTION, SAFE_MODE_HOLD)

# Capacity tariff ("effekttariff", entry options): a monthly fee per kW on the mean of the
# month's N highest counted peaks (engine/capacity.py). No preset, or "none", is no tariff.
CONF_CAPACITY_PRESET: Final = "capacity_preset"
CAPACITY_NONE: Final = "none"
CAPACITY_CUSTOM: Final = "custom"
CONF_CAPACITY_FEE: Final = "capacity_fee_per_kw_month"
CONF_CAPACITY_PEAKS: Final = "capacity_peaks"
CONF_CAPACITY_DISTINCT_DAYS: Final = "capacity_distinct_days"
CONF_CAPACITY_WEEKDAYS_ONLY: Final = "capacity_weekdays_only"
CONF_CAPACITY_HOURS_START: Final = "capacity_hours_start"
CONF_CAPACITY_HOURS_END: Final = "capacity_hours_end"
CONF_CAPACITY_MONTHS: Final = "capacity_months"
CONF_CAPACITY_NIGHT_WEIGHT: Final = "capacity_night_weight"
CONF_CAPACITY_MEASUREMENT_MINUTES: Final = "capacity_measurement_minutes"
CAPACITY_KEYS: Final = (
    CONF_CAPACITY_PRESET,
    CONF_CAPACITY_FEE,
    CONF_CAPACITY_PEAKS,
    CONF_CAPACITY_DISTINCT_DAYS,
    CONF_CAPACITY_WEEKDAYS_ONLY,
    CONF_CAPACITY_HOURS_START,
    CONF_CAPACITY_HOURS_END,
    CONF_CAPACITY_MONTHS,
    CONF_CAPACITY_NIGHT_WEIGHT,
    CONF_CAPACITY_MEASUREMENT_MINUTES,
)

DEFAULTS: Final[dict[str, object]] = {
    CONF_MIN_SOC: 10.0,
    CONF_MAX_SOC: 100.0,
    CONF_CHARGE_EFFICIENCY: 0.95,
    CONF_DISCHARGE_EFFICIENCY: 0.95,
    CONF_CYCLE_COST: 0.0,
    CONF_GRID_CHARGING: True,
    CONF_CURTAILMENT: False,
    CONF_PERIOD_MINUTES: PERIOD_AUTO,
    CONF_PRICE_MULTIPLIER: 1.0,
    CONF_PRICE_MARKUP: 0.0,
    CONF_PRICE_VAT: 1.0,
    CONF_PRICE_FIXED_FEE: 0.0,
    CONF_EXPORT_MULTIPLIER: 1.0,
    CONF_EXPORT_COMPENSATION: 0.0,
    CONF_CONSUMPTION_DAYS: 7,
    CONF_FALLBACK_CONSUMPTION_KWH: 0.5,
    CONF_KEEP_HISTORY_DAYS: 400,
    CONF_CONTROL_MODE: CONTROL_MONITOR,
    CONF_SAFE_MODE: SAFE_MODE_SELF_CONSUMPTION,
}

PERIOD_MINUTES: Final = 60
