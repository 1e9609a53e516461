// The shipped Prometheus alert rules (ops/prometheus/alerts.yml): promtool accepts them, and their unit tests
// (alerts.test.yml: synthetic series in, expected alerts out) pass. Without promtool these fail, never skip.
import { projectPath } from '../../config/paths';
import { promtool } from '../support/promtool';

const RULES = projectPath('ops', 'prometheus', 'alerts.yml');
const RULE_TESTS = projectPath('ops', 'prometheus', 'alerts.test.yml');

describe('alert rules', () => {
  it('when promtool checks ops/prometheus/alerts.yml, then it accepts every rule', () => {
    const result = promtool(['check', 'rules', RULES]);
    expect(result.output).toContain('SUCCESS');
    expect(result.status).toBe(0);
  });

  it('when the rule unit tests feed synthetic series, then each alert fires exactly when it should', () => {
    const result = promtool(['test', 'rules', RULE_TESTS]);
    expect(result.output).not.toContain('FAILED');
    expect(result.status).toBe(0);
  });

  it('when promtool is missing, then the helper fails with how to install it', () => {
    const saved = process.env.PROMTOOL_PATH;
    process.env.PROMTOOL_PATH = '/nonexistent/promtool';
    try {
      expect(() => promtool(['--version'])).toThrow(/apt-get install -y prometheus/);
    } finally {
      if (saved === undefined) delete process.env.PROMTOOL_PATH;
      else process.env.PROMTOOL_PATH = saved;
    }
  });
});
