/** One sample of a Prometheus text exposition: a metric name, its labels and its value. */
export interface PrometheusSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A line of an exposition that is not in the text format. */
export class PrometheusTextError extends Error {
  constructor(line: number, reason: string) {
    super(`line ${line} of the metrics is not in the Prometheus text format: ${reason}`);
    this.name = 'PrometheusTextError';
  }
}

const metricName = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const labelName = /[a-zA-Z_][a-zA-Z0-9_]*/y;
const escapes: Record<string, string> = { '\\': '\\', '"': '"', n: '\n' };

/**
 * The samples of a Prometheus text exposition (format 0.0.4, as prom-client serves it; OpenMetrics'
 * `# EOF` is taken too): `# HELP`/`# TYPE` and other comments and blank lines are skipped, label
 * values are unescaped (`\\`, `\"`, `\n`), `NaN` and `±Inf` are numbers, a timestamp is dropped.
 * A parser of our own rather than a dependency: the one npm package for it
 * (parse-prometheus-text-format) has not been released since 2019 and has no types, and this
 * needs only the sample lines.
 * @throws PrometheusTextError naming the first line that is not in the format.
 */
export function parsePrometheusText(text: string): PrometheusSample[] {
  const samples: PrometheusSample[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fail = (reason: string): never => {
      throw new PrometheusTextError(index + 1, reason);
    };
    let at = 0;
    const take = (pattern: RegExp): string | undefined => {
      pattern.lastIndex = at;
      const match = pattern.exec(line);
      if (!match) return undefined;
      at = pattern.lastIndex;
      return match[0];
    };
    const skipSpaces = () => {
      while (line[at] === ' ' || line[at] === '\t') at++;
    };
    const name = take(metricName) ?? fail('no metric name');
    const labels: Record<string, string> = {};
    skipSpaces();
    if (line[at] === '{') {
      at++;
      for (;;) {
        skipSpaces();
        if (line[at] === '}') break;
        const label = take(labelName) ?? fail(`a label name was expected at column ${at + 1}`);
        skipSpaces();
        if (line[at] !== '=') fail(`"=" was expected after label ${label}`);
        at++;
        skipSpaces();
        if (line[at] !== '"') fail(`the value of label ${label} is not quoted`);
        at++;
        let value = '';
        for (;;) {
          const char = line[at];
          if (char === undefined) fail(`the value of label ${label} is not closed`);
          at++;
          if (char === '"') break;
          if (char === '\\') {
            const escaped = escapes[line[at] ?? ''];
            if (escaped === undefined) fail(`label ${label} has an unknown escape \\${line[at] ?? ''}`);
            value += escaped;
            at++;
          } else value += char;
        }
        labels[label] = value;
        skipSpaces();
        if (line[at] === ',') at++;
        else if (line[at] !== '}') fail(`"," or "}" was expected after label ${label}`);
      }
      at++;
    }
    const [valueText, timestamp, ...rest] = line
      .slice(at)
      .trim()
      .split(/[ \t]+/);
    if (!valueText) fail(`metric ${name} has no value`);
    if (rest.length > 0 || (timestamp !== undefined && !/^-?\d+$/.test(timestamp))) fail(`metric ${name} has more than a value and a timestamp`);
    samples.push({ name, labels, value: numberOf(valueText!) ?? fail(`the value of metric ${name} is not a number: ${valueText}`) });
  });
  return samples;
}

function numberOf(text: string): number | undefined {
  if (text === 'NaN') return NaN;
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  // Number('') is 0 and Number('0x10') 16: only the decimal and exponent forms Prometheus writes.
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text) ? Number(text) : undefined;
}
