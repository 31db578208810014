// A time-series plot (uPlot: small, fast, canvas-based; https://github.com/leeoniya/uPlot).
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

const COLOURS = ["#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7b83"];

export function TimeChart(props: {
  title: string;
  /** Unix seconds. */
  x: number[];
  series: { label: string; values: number[] }[];
  bars?: boolean;
  /** The legend's name of the time axis. */
  timeLabel: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const width = Math.max(280, el.clientWidth);
    const plot = new uPlot(
      {
        width,
        height: 220,
        title: props.title,
        scales: { x: { time: true } },
        // Counts: whole-number steps only.
        axes: [{}, { size: 40, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000] }],
        series: [
          { label: props.timeLabel },
          ...props.series.map((s, i) => ({
            label: s.label,
            stroke: COLOURS[i % COLOURS.length],
            width: 2,
            fill: props.bars ? `${COLOURS[i % COLOURS.length]}33` : undefined,
            paths: props.bars ? uPlot.paths.bars!({ size: [0.6, 40] }) : undefined,
            points: { show: !props.bars && props.x.length <= 31 },
          })),
        ],
      },
      [props.x, ...props.series.map((s) => s.values)],
      el,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(280, el.clientWidth), height: 220 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [props.title, props.timeLabel, JSON.stringify(props.x), JSON.stringify(props.series), props.bars]);
  return <figure class="chart" ref={box} aria-label={props.title} />;
}
