import { expect } from 'chai';
import { truncateCodePoints } from './truncate-code-points.js';

describe('truncateCodePoints', () => {
  it('returns text that fits unchanged, however it is encoded', () => {
    expect(truncateCodePoints('', 3)).to.equal('');
    expect(truncateCodePoints('abc', 3)).to.equal('abc');
    // Three 4-byte characters are six UTF-16 units but three code points: they fit VARCHAR(3).
    expect(truncateCodePoints('😀😀😀', 3)).to.equal('😀😀😀');
  });

  it('cuts at the code point limit without splitting a surrogate pair', () => {
    const cut = truncateCodePoints('a😀b😀c', 2);
    expect(cut).to.equal('a😀');
    expect([...cut]).to.have.length(2);
    expect(truncateCodePoints('😀😀😀', 1)).to.equal('😀');
    expect(truncateCodePoints('𠜎𠜱𡃁', 2)).to.equal('𠜎𠜱');
  });

  it('never leaves a lone high surrogate when the limit falls inside a pair', () => {
    for (let max = 0; max <= 12; max++) {
      const cut = truncateCodePoints('x😀'.repeat(6), max);
      expect([...cut].length, `max ${max}`).to.equal(Math.min(max, 12));
      expect(/[\uD800-\uDBFF]$/.test(cut), `max ${max} ends in a high surrogate`).to.equal(false);
      expect(Buffer.from(cut, 'utf8').toString('utf8')).to.equal(cut);
    }
  });

  it('counts 1-, 2-, 3- and 4-byte characters alike, as a utf8mb4 VARCHAR does', () => {
    const mixed = 'aé中😀'.repeat(50); // 200 code points, 250 UTF-16 units, 500 bytes
    const cut = truncateCodePoints(mixed, 64);
    expect([...cut]).to.have.length(64);
    expect(mixed.startsWith(cut)).to.equal(true);
  });

  it('keeps or drops a lone surrogate whole', () => {
    expect(truncateCodePoints('ab\uD800cd', 3)).to.equal('ab\uD800');
    expect(truncateCodePoints('ab\uD800cd', 2)).to.equal('ab');
  });
});
