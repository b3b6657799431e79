/** One problem the check found, printed as `file:line: message`. */
export interface DocProblem {
  file: string;
  line: number;
  message: string;
}
