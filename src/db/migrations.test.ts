import { expect } from 'chai';
import { loadMigrations, splitStatements } from './migrations.js';

describe('migration files', () => {
  it('split into statements at a delimiter that ends a line, dropping comment lines', () => {
    const sql = '-- a table\nCREATE TABLE a (\n  -- its only column\n  x INT\n);\nINSERT INTO a VALUES (1); \n';
    expect(splitStatements(sql)).to.deep.equal(['CREATE TABLE a (\n  x INT\n)', 'INSERT INTO a VALUES (1)']);
  });
  it('keep a routine body whole between DELIMITER lines, as the mysql client does', () => {
    const sql = 'DELIMITER $$\nCREATE PROCEDURE p()\nBEGIN\n  SELECT 1;\n  SELECT 2;\nEND$$\nDELIMITER ;\nSELECT 3;\n';
    expect(splitStatements(sql)).to.deep.equal(['CREATE PROCEDURE p()\nBEGIN\n  SELECT 1;\n  SELECT 2;\nEND', 'SELECT 3']);
  });
  it('are numbered without gaps, in order', () => {
    const versions = loadMigrations().map((m) => m.version);
    expect(versions).to.deep.equal(versions.map((_, i) => i + 1));
  });
});
