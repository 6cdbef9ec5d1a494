// The studio shell. For now: a header, the capability line (the engine worker's view of the GPU)
// and a note that the full studio is on its way. Panels (shelf, recipe editor, curves, export)
// arrive in later issues and plug in under <main>.
import { useEffect, useState } from 'react';
import { startEngine } from '../worker/client';
import type { GpuReport } from '../worker/api';

type Capability = { state: 'probing' } | { state: 'ready'; report: GpuReport } | { state: 'failed'; message: string };

export function App() {
  return (
    <div className="app">
      <header className="app-header">
        <h1>Merge Studio</h1>
        <p className="tagline">Merge language models in this tab: safetensors streamed through WebGPU, mergekit-exact.</p>
      </header>
      <main className="app-main">
        <CapabilityLine />
        <section className="card coming-soon" aria-label="Status">
          <h2>The full studio is coming</h2>
          <p>
            The model shelf, recipe editor, layer curves and export panel land in the next steps. Today the engine can already be
            driven headless from a terminal:
          </p>
          <pre>
            <code>npm run merge -- config.yml --out ./merged</code>
          </pre>
        </section>
      </main>
    </div>
  );
}

function CapabilityLine() {
  const [cap, setCap] = useState<Capability>({ state: 'probing' });

  useEffect(() => {
    let live = true;
    let engine: ReturnType<typeof startEngine> | null = null;
    try {
      engine = startEngine();
      engine.api
        .capabilities()
        .then((report) => live && setCap({ state: 'ready', report }))
        .catch((e: unknown) => live && setCap({ state: 'failed', message: e instanceof Error ? e.message : String(e) }));
    } catch (e) {
      setCap({ state: 'failed', message: e instanceof Error ? e.message : String(e) });
    }
    return () => {
      live = false;
      engine?.terminate();
    };
  }, []);

  if (cap.state === 'probing')
    return (
      <p className="capability probing" role="status" aria-live="polite">
        <span className="dot" aria-hidden="true" /> Checking WebGPU…
      </p>
    );

  if (cap.state === 'failed' || !cap.report.available)
    return (
      <div className="capability unavailable" role="alert">
        <span className="dot" aria-hidden="true" />
        <div>
          <strong>WebGPU unavailable.</strong>{' '}
          {cap.state === 'failed' ? cap.message + ' ' : ''}
          Merging needs WebGPU: use a recent Chrome, Edge or Chromium (on Linux, start it with <code>--enable-unsafe-webgpu</code>),
          Safari 26, or Firefox on Windows / Apple Silicon macOS.
        </div>
      </div>
    );

  const r = cap.report;
  const name = [r.vendor, r.architecture].filter(Boolean).join(' · ') || 'unknown adapter';
  const maxBinding = formatBytes(r.limits.maxStorageBufferBindingSize);
  return (
    <div className={`capability ${r.isFallbackAdapter ? 'fallback' : 'ok'}`} role="status" aria-live="polite">
      <span className="dot" aria-hidden="true" />
      <div>
        <strong>WebGPU ready</strong> — {name}
        {r.description ? <span className="muted"> ({r.description})</span> : null}
        <span className="muted"> · max binding {maxBinding}{r.features.includes('shader-f16') ? ' · shader-f16' : ''}</span>
        {r.isFallbackAdapter ? (
          <p className="warning">
            This is a software (fallback) adapter: merges will be correct but much slower than on a real GPU. Check that hardware
            acceleration is enabled in your browser.
          </p>
        ) : null}
      </div>
    </div>
  );
}

function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(n % 1024 ** 3 ? 1 : 0)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(0)} MiB`;
  return `${n} B`;
}
