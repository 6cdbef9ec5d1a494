// A term list of model facts (the shelf card's compact one and the details sheet's full one).
import type { ReactNode } from 'react';

export interface Fact {
  term: string;
  value: ReactNode;
  title?: string;
  className?: string;
}

export function Facts({ items, wide }: { items: Fact[]; wide?: boolean }) {
  return (
    <dl className={wide ? 'facts wide' : 'facts'}>
      {items.map((f) => (
        <div key={f.term}>
          <dt>{f.term}</dt>
          <dd title={f.title} className={f.className}>
            {f.value}
          </dd>
        </div>
      ))}
    </dl>
  );
}
