// The engine worker's view of the GPU: adapter, software-fallback warning, limits, shader-f16, and
// the GPU memory the current merge needs next to what the device allows.
import { useStudio } from '../store/store';
import { formatBinary } from './format';

export function CapabilityPanel() {
  const cap = useStudio((s) => s.capability);
  const plan = useStudio((s) => s.analysis?.plan);
  return (
    <section className="panel capability-panel" aria-labelledby="cap-title">
      <header className="panel-head">
        <h2 id="cap-title">GPU</h2>
        {cap.state === 'ready' && cap.report.available ? (
          <span className={`badge ${cap.report.isFallbackAdapter ? 'warn' : 'ok'}`}>{cap.report.isFallbackAdapter ? 'software adapter' : 'WebGPU ready'}</span>
        ) : cap.state === 'probing' ? (
          <span className="badge muted">probing…</span>
        ) : (
          <span className="badge bad">unavailable</span>
        )}
      </header>
      <CapabilityBody />
      {plan?.status === 'ok' && cap.state === 'ready' && cap.report.available ? (
        <p className="small">
          This merge needs about <b>{formatBinary(plan.gpuBytes)}</b> of GPU buffers at its peak
          {plan.largest ? (
            <span className="muted">
              {' '}
              (largest: <span className="mono">{plan.largest.name}</span>, {plan.largest.inputs} inputs)
            </span>
          ) : null}
          {plan.gpuBytes > cap.report.limits.maxBufferSize ? <span className="bad"> — more than the device’s largest buffer</span> : null}.
        </p>
      ) : null}
    </section>
  );
}

function CapabilityBody() {
  const cap = useStudio((s) => s.capability);
  if (cap.state === 'probing')
    return (
      <p className="muted small" role="status">
        Checking WebGPU…
      </p>
    );
  if (cap.state === 'failed' || !cap.report.available) {
    const engine = cap.state === 'ready' ? cap.report.merge : undefined;
    return (
      <div className={`callout ${engine?.engine === 'cpu' ? 'warn' : 'bad'}`} role="alert">
        <strong>WebGPU unavailable.</strong> {cap.state === 'failed' ? cap.message + ' ' : ''}
        {engine?.engine === 'cpu' ? (
          <>
            Merges run on the <b>CPU engine</b> ({engine.description.replace(/^CPU engine: /, '')}) with the same results. Evaluation runs on WebAssembly. With a GPU and a browser that
            exposes it (a recent Chrome, Edge or Chromium — on Linux started with <code>--enable-unsafe-webgpu</code> — Safari 26, or Firefox on Windows / Apple Silicon macOS), large
            merges and evaluations would run several times faster, and merge diagnostics would be available.
          </>
        ) : (
          <>
            Use a recent Chrome, Edge or Chromium (on Linux, start it with <code>--enable-unsafe-webgpu</code>), Safari 26, or Firefox on Windows / Apple Silicon macOS.
          </>
        )}
      </div>
    );
  }
  const r = cap.report;
  const name = [r.vendor, r.architecture].filter(Boolean).join(' · ') || 'unknown adapter';
  return (
    <>
      <p className="small">
        <strong>{name}</strong>
        {r.description ? <span className="muted"> — {r.description}</span> : null}
      </p>
      {r.isFallbackAdapter ? (
        <p className="callout warn small" role="note">
          This is a software (fallback) adapter, which emulates a GPU on the processor.
          {r.merge?.engine === 'cpu' ? (
            <>
              {' '}
              Merges therefore run on the <b>CPU engine</b> ({r.merge.description.replace(/^CPU engine: /, '')}): the same bytes, several times faster than this adapter.
            </>
          ) : null}{' '}
          A real GPU would be faster still: check that hardware acceleration is enabled in your browser.
        </p>
      ) : null}
      <dl className="facts limits">
        <div>
          <dt>max buffer</dt>
          <dd>{formatBinary(r.limits.maxBufferSize)}</dd>
        </div>
        <div>
          <dt>max binding</dt>
          <dd>{formatBinary(r.limits.maxStorageBufferBindingSize)}</dd>
        </div>
        <div>
          <dt>storage buffers / stage</dt>
          <dd>{r.limits.maxStorageBuffersPerShaderStage}</dd>
        </div>
        <div>
          <dt>workgroups / dim</dt>
          <dd>{r.limits.maxComputeWorkgroupsPerDimension}</dd>
        </div>
        <div>
          <dt>shader-f16</dt>
          <dd>{r.features.includes('shader-f16') ? 'yes' : 'no'}</dd>
        </div>
        <div>
          <dt>timestamps</dt>
          <dd>{r.features.includes('timestamp-query') ? 'yes' : 'no'}</dd>
        </div>
      </dl>
    </>
  );
}
