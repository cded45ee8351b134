/**
 * MCP-DOCK-001…004 and MCP-SUP-002: containers started with `docker|podman|nerdctl run`. The options
 * are read the way the Docker CLI reads them, up to the image name.
 */
import { programName } from './argv.js';
import type { Issue } from './issue.js';
import { broadRoot, isSensitivePath, isSystemFolder } from './paths.js';
import { excerpt } from './secrets.js';

const RUNTIMES = new Set(['docker', 'podman', 'nerdctl']);
const BOOLEAN_LONG = new Set([
  '--rm',
  '--privileged',
  '--init',
  '--read-only',
  '--interactive',
  '--tty',
  '--detach',
  '--publish-all',
  '--no-healthcheck',
  '--oom-kill-disable',
  '--quiet',
  '--disable-content-trust',
  '--help',
]);
const BOOLEAN_SHORT = /^-[itdPq]+$/;
const DANGEROUS_CAPS = new Set([
  'ALL',
  'SYS_ADMIN',
  'SYS_MODULE',
  'SYS_PTRACE',
  'SYS_RAWIO',
  'DAC_READ_SEARCH',
]);

interface RunOptions {
  readonly options: Array<{ flag: string; value: string | undefined }>;
  readonly image: string | undefined;
}

/** The options of `docker run` and its image, or undefined when the command is not a container run. */
export function containerRun(argv: readonly string[]): RunOptions | undefined {
  if (!RUNTIMES.has(programName(argv[0] ?? ''))) return undefined;
  let i = argv[1] === 'run' ? 2 : argv[1] === 'container' && argv[2] === 'run' ? 3 : -1;
  if (i < 0) return undefined;
  const options: Array<{ flag: string; value: string | undefined }> = [];
  for (; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') return { options, image: argv[i + 1] };
    if (!arg.startsWith('-')) return { options, image: arg };
    const eq = arg.indexOf('=');
    if (eq > 0) options.push({ flag: arg.slice(0, eq), value: arg.slice(eq + 1) });
    else if (BOOLEAN_LONG.has(arg) || BOOLEAN_SHORT.test(arg)) options.push({ flag: arg, value: undefined });
    else options.push({ flag: arg, value: argv[++i] });
  }
  return { options, image: undefined };
}

/** The host side of a `-v`/`--volume` or `--mount` value; undefined for named and anonymous volumes. */
function mountSource(flag: string, value: string): string | undefined {
  let source: string | undefined;
  if (flag === '--mount') {
    const fields = Object.fromEntries(
      value
        .split(',')
        .map((kv) => [kv.slice(0, kv.indexOf('=')).trim(), kv.slice(kv.indexOf('=') + 1).trim()]),
    );
    if (fields['type'] !== undefined && fields['type'] !== 'bind') return undefined;
    source = fields['source'] ?? fields['src'];
  } else {
    const drive = /^[A-Za-z]:[\\/]/.test(value);
    const parts = value.split(':');
    if (parts.length < 2) return undefined;
    source = drive ? `${parts[0]}:${parts[1]}` : parts[0];
  }
  if (source === undefined || source === '') return undefined;
  // A bare name is a named volume, not a host path.
  return /^(?:[\\/~.$%]|[A-Za-z]:[\\/])/.test(source) ? source : undefined;
}

/** Checks a container run; `home` is the scanning user's home folder. */
export function checkDocker(argv: readonly string[], home: string): Issue[] {
  const run = containerRun(argv);
  if (!run) return [];
  const issues: Issue[] = [];
  for (const { flag, value } of run.options) {
    const v = value ?? '';
    if (flag === '--privileged' && v !== 'false') {
      issues.push({ rule: 'MCP-DOCK-001', message: 'container runs with --privileged', subject: flag });
    }
    if (flag === '--cap-add' && DANGEROUS_CAPS.has(v.toUpperCase().replace(/^CAP_/, ''))) {
      issues.push({
        rule: 'MCP-DOCK-001',
        message: `container gets --cap-add ${excerpt(v)}`,
        subject: `${flag}=${v}`,
      });
    }
    if (['--pid', '--ipc', '--userns', '--uts', '--cgroupns'].includes(flag) && v === 'host') {
      issues.push({
        rule: 'MCP-DOCK-001',
        message: `container shares the host's namespace: ${flag}=host`,
        subject: flag,
      });
    }
    if (flag === '--security-opt' && /unconfined|label[=:]disable/.test(v)) {
      issues.push({
        rule: 'MCP-DOCK-001',
        message: `container security profile disabled: --security-opt ${excerpt(v)}`,
        subject: `${flag}=${v}`,
      });
    }
    if ((flag === '--network' || flag === '--net') && v === 'host') {
      issues.push({
        rule: 'MCP-DOCK-004',
        message: `container uses the host network: ${flag} host`,
        subject: flag,
      });
    }
    if (flag === '-v' || flag === '--volume' || flag === '--mount') {
      const source = mountSource(flag, v);
      if (source === undefined) continue;
      if (/docker\.sock$|docker_engine$/.test(source)) {
        issues.push({
          rule: 'MCP-DOCK-002',
          message: `container mounts the Docker socket (${excerpt(source)})`,
          subject: source,
        });
        continue;
      }
      const broad = broadRoot(source, home);
      if (broad || isSensitivePath(source) || isSystemFolder(source)) {
        const what = broad ?? (isSensitivePath(source) ? 'a credential folder' : 'a system folder');
        issues.push({
          rule: 'MCP-DOCK-003',
          message: `container mounts ${what}: ${flag} ${excerpt(v)}`,
          subject: source,
        });
      }
    }
  }
  if (run.image !== undefined && !run.image.includes('@sha256:')) {
    const slash = run.image.lastIndexOf('/');
    const colon = run.image.indexOf(':', slash + 1);
    const tag = colon > 0 ? run.image.slice(colon + 1) : '';
    issues.push({
      rule: 'MCP-SUP-002',
      message: `image ${excerpt(run.image)} is not pinned by digest (${tag ? `mutable tag :${excerpt(tag)}` : 'no tag, so :latest'})`,
      subject: 'image',
    });
  }
  return issues;
}
