import { describe, expect, it } from 'vitest';
import { redactSecrets } from '../../src/runtimes/redact.js';

describe('redactSecrets', () => {
  it.each([
    ['OpenAI key', 'key sk-proj-AbCdEf0123456789AbCdEf0123456789', 'key [REDACTED]'],
    ['Anthropic key', 'x-api-key: sk-ant-api03-AAAAbbbbCCCC1234', 'x-api-key: [REDACTED]'],
    [
      'Google key',
      'https://generativelanguage.googleapis.com/v1/models?key=AIzaSyA1234567890abcdefghijklmnopqrstuv',
      'https://generativelanguage.googleapis.com/v1/models?key=[REDACTED]',
    ],
    ['AWS key id', 'AKIAIOSFODNN7EXAMPLE', '[REDACTED]'],
    ['bearer token', 'Authorization: Bearer abc.def-ghi_123', 'Authorization: Bearer [REDACTED]'],
    [
      'query secret',
      'https://aip.baidubce.com/oauth/2.0/token?client_id=abc&client_secret=s3cr3tvalue',
      'https://aip.baidubce.com/oauth/2.0/token?client_id=abc&client_secret=[REDACTED]',
    ],
    ['JSON apiKey', '{"apiKey": "0123456789abcdef", "baseUrl": "https://api.deepseek.com"}', '{"apiKey": "[REDACTED]", "baseUrl": "https://api.deepseek.com"}'],
    ['JWT', 'token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlMTIz', 'token [REDACTED]'],
    ['long random run', 'id=Zk3mQ9xT2bW7yL4nR8vC1sD6fH0jP5aE', 'id=[REDACTED]'],
  ])('%s', (_, input, want) => {
    expect(redactSecrets(input)).toBe(want);
    expect(redactSecrets(input)).not.toMatch(/s3cr3t|AIzaSy|sk-proj|AKIAIOS/);
  });
  it('leaves URLs, hosts, versions and ordinary words alone', () => {
    for (const s of ['https://api.openai.com/v1/chat/completions', 'librknnrt version: 1.5.2 (c6b7b351a@2023-08-23)', 'tokenizer.json', '"mcpServers": {']) {
      expect(redactSecrets(s)).toBe(s);
    }
  });
});
