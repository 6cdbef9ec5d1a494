// The right column's three views of the current recipe: Diagnostics (what the merge does to the
// weights), Try it (what the merged model says) and Evolution (search for a better recipe). The
// inactive panels stay mounted but hidden, so a run keeps its state; the choice survives a reload.
import { useState, type KeyboardEvent } from 'react';
import { useEvolution } from '../store/evolution';
import { Diagnostics } from './Diagnostics';
import { Evolution } from './Evolution';
import { TryIt } from './TryIt';
import './evaluate.css';

type Tab = 'diagnostics' | 'try' | 'evolution';
const TABS: { id: Tab; label: string }[] = [
  { id: 'diagnostics', label: 'Diagnostics' },
  { id: 'try', label: 'Try it' },
  { id: 'evolution', label: 'Evolution' },
];
const KEY = 'merge-studio-tab';

function initialTab(): Tab {
  try {
    const t = localStorage.getItem(KEY);
    if (TABS.some((x) => x.id === t)) return t as Tab;
  } catch {
    /* storage blocked: default tab */
  }
  return 'diagnostics';
}

export function RightTabs() {
  const [tab, setTab] = useState<Tab>(initialTab);
  const evolving = useEvolution((s) => s.activity !== 'idle');
  const choose = (t: Tab) => {
    setTab(t);
    try {
      localStorage.setItem(KEY, t);
    } catch {
      /* not persisted */
    }
  };
  const onKey = (e: KeyboardEvent) => {
    const i = TABS.findIndex((t) => t.id === tab);
    const d = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
    if (!d) return;
    e.preventDefault();
    const next = TABS[(i + d + TABS.length) % TABS.length].id;
    choose(next);
    (e.currentTarget.querySelector(`#tab-${next}`) as HTMLElement | null)?.focus();
  };
  return (
    <div className="right-tabs">
      <div role="tablist" aria-label="Views of the recipe" className="view-tabs" onKeyDown={onKey}>
        {TABS.map((t) => (
          <button key={t.id} id={`tab-${t.id}`} type="button" role="tab" aria-selected={tab === t.id} aria-controls={`view-${t.id}`} tabIndex={tab === t.id ? 0 : -1} className={tab === t.id ? 'on' : ''} onClick={() => choose(t.id)}>
            {t.label}
            {t.id === 'evolution' && evolving ? <span className="live-dot" aria-hidden="true" /> : null}
          </button>
        ))}
      </div>
      <div role="tabpanel" id="view-diagnostics" aria-labelledby="tab-diagnostics" hidden={tab !== 'diagnostics'}>
        <Diagnostics />
      </div>
      <div role="tabpanel" id="view-try" aria-labelledby="tab-try" hidden={tab !== 'try'}>
        <TryIt />
      </div>
      <div role="tabpanel" id="view-evolution" aria-labelledby="tab-evolution" hidden={tab !== 'evolution'}>
        <Evolution />
      </div>
    </div>
  );
}
