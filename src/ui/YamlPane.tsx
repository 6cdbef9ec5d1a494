// The live mergekit YAML pane, two-way: form edits rewrite the text; typing valid YAML updates the
// form; invalid YAML keeps the text and shows the error at its line. Import and export as files.
import { useRef, useState, type UIEvent } from 'react';
import { useStudio } from '../store/store';

const LINE_PX = 18;

export function YamlPane() {
  const yaml = useStudio((s) => s.yaml);
  const error = useStudio((s) => s.yamlError);
  const setYaml = useStudio((s) => s.setYaml);
  const file = useRef<HTMLInputElement>(null);
  const [scroll, setScroll] = useState(0);
  const lines = yaml.split('\n').length;
  const onScroll = (e: UIEvent<HTMLTextAreaElement>) => setScroll(e.currentTarget.scrollTop);
  const exportYaml = () => {
    const url = URL.createObjectURL(new Blob([yaml], { type: 'application/yaml' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = 'mergekit_config.yml';
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  };
  return (
    <section className="panel yaml" aria-labelledby="yaml-title">
      <header className="panel-head">
        <h2 id="yaml-title">mergekit YAML</h2>
        <span className={`badge ${error ? 'bad' : 'ok'}`}>{error ? (error.line ? `error on line ${error.line}` : 'error') : 'valid'}</span>
      </header>
      <div className="code">
        <div className="gutter" aria-hidden="true">
          <div style={{ transform: `translateY(${-scroll}px)` }}>
            {Array.from({ length: lines }, (_, i) => (
              <div key={i} className={error?.line === i + 1 ? 'err' : undefined}>
                {i + 1}
              </div>
            ))}
          </div>
        </div>
        {error?.line ? <div className="err-line" style={{ top: (error.line - 1) * LINE_PX + 8 - scroll }} aria-hidden="true" /> : null}
        <textarea
          aria-label="mergekit YAML"
          aria-invalid={!!error}
          aria-describedby={error ? 'yaml-error' : undefined}
          spellCheck={false}
          autoCapitalize="off"
          autoCorrect="off"
          value={yaml}
          onChange={(e) => setYaml(e.target.value)}
          onScroll={onScroll}
        />
      </div>
      {error ? (
        <p id="yaml-error" className="yaml-error" role="alert">
          {error.message}
        </p>
      ) : null}
      <div className="yaml-tools">
        <button type="button" className="mini" onClick={() => file.current?.click()}>
          Import mergekit YAML
        </button>
        <button type="button" className="mini" onClick={exportYaml} disabled={!!error}>
          Export mergekit YAML
        </button>
        <input
          ref={file}
          type="file"
          hidden
          accept=".yml,.yaml,text/yaml,application/yaml"
          data-testid="input-yaml"
          onChange={async (e) => {
            const f = e.currentTarget.files?.[0];
            e.currentTarget.value = '';
            if (f) setYaml(await f.text());
          }}
        />
      </div>
    </section>
  );
}
