// One width for every chart of a grid, measured on its first `.chart-box` and kept in step with
// resizes (recharts needs explicit sizes; each chart measuring itself would reflow the grid).
import { useEffect, useRef, useState } from 'react';

export function useChartWidth(): [React.RefObject<HTMLDivElement | null>, number] {
  const ref = useRef<HTMLDivElement>(null);
  const [w, setW] = useState(0);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const measure = () => {
      const box = el.querySelector('.chart-box') as HTMLElement | null;
      const next = Math.floor(box?.clientWidth ?? 0);
      setW((prev) => (prev === next ? prev : next));
    };
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  return [ref, w];
}
