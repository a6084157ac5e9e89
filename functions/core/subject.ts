import type { Subject } from './model';

/** One string per subject, for maps and sets: cluster names never contain NUL. */
export function subjectKey(subject: Subject): string {
  return `${subject.clusterName}\u0000${subject.principalArn}`;
}

export function sameSubject(a: Subject, b: Subject): boolean {
  return a.clusterName === b.clusterName && a.principalArn === b.principalArn;
}

/** How messages name a subject. */
export function describeSubject(subject: Subject): string {
  return `${subject.principalArn} on ${subject.clusterName}`;
}
