// Chart set-up shared by the pages (TradingView's lightweight-charts, bundled: nothing is
// fetched at run time).

import {
  createChart,
  createOptionsChart,
  ColorType,
  HistogramSeries,
  type DeepPartial,
  type ChartOptions,
  type IChartApi,
  type IChartApiBase,
  type ISeriesApi,
  type Time,
} from "lightweight-charts";

const theme: DeepPartial<ChartOptions> = {
  autoSize: true,
  layout: { background: { type: ColorType.Solid, color: "transparent" }, textColor: "#8b98a7" },
  grid: { vertLines: { color: "#1d2630" }, horzLines: { color: "#1d2630" } },
  rightPriceScale: { borderColor: "#263240" },
  timeScale: { borderColor: "#263240" },
};

/** A chart over calendar dates. */
export function dateChart(el: HTMLElement, options: DeepPartial<ChartOptions> = {}): IChartApi {
  return createChart(el, { ...theme, ...options });
}

/** A chart over a numeric axis (simulation bars are numbered by generated order). */
export function numberChart(el: HTMLElement): IChartApiBase<number> {
  return createOptionsChart(el, { ...theme, localization: { priceFormatter: (p: number) => p.toFixed(2) } });
}

export const RISK_ON = "rgba(38, 166, 154, 0.18)";
export const RISK_OFF = "rgba(239, 83, 80, 0.18)";
export const NEUTRAL = "rgba(139, 152, 167, 0.10)";

/**
 * Shades the background by regime: a full-height histogram on its own hidden scale, one bar
 * per day coloured by that day's regime (the library has no background bands of its own).
 */
export function regimeBands(chart: IChartApi): ISeriesApi<"Histogram", Time> {
  const bands = chart.addSeries(HistogramSeries, {
    priceScaleId: "regimes",
    priceLineVisible: false,
    lastValueVisible: false,
    base: 0,
  });
  chart.priceScale("regimes").applyOptions({ visible: false, scaleMargins: { top: 0, bottom: 0 } });
  return bands;
}
