import { expect } from 'chai';
import { ClaimPath } from './claim-path.js';

describe('claim path choice', () => {
  it('starts with the INSERT, the cheapest way for first calls', () => {
    expect(new ClaimPath().readFirst()).to.equal(false);
  });
  it('switches to reading first during a run of retries, and back when new keys dominate again', () => {
    const path = new ClaimPath();
    let claims = 0;
    while (!path.readFirst()) {
      path.record(true);
      claims++;
    }
    expect(claims).to.be.within(10, 20);
    for (let i = 0; i < 5; i++) path.record(false);
    expect(path.readFirst()).to.equal(true);
    for (let i = 0; i < 30; i++) path.record(false);
    expect(path.readFirst()).to.equal(false);
  });
});
