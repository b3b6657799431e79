import { Metadata } from '@grpc/grpc-js';
import { expect } from 'chai';
import { decodeTrailers, encodeTrailers } from './trailers.js';

describe('stored trailers', () => {
  it('round-trip text and binary values, including repeated keys', () => {
    const md = new Metadata();
    md.add('x-text', 'a');
    md.add('x-text', 'b');
    md.add('grpc-status-details-bin', Buffer.from([0, 1, 255]));
    const back = decodeTrailers(encodeTrailers(md));
    expect(back.get('x-text')).to.deep.equal(['a', 'b']);
    expect(back.get('grpc-status-details-bin')).to.deep.equal([Buffer.from([0, 1, 255])]);
  });
});
