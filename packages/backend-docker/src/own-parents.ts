/**
 * Parent ids that booted runners through this process. The reaper never removes their
 * containers, whatever an `isParentAlive` callback says: a parent never reaps itself.
 */
export const ownParentIds = new Set<string>();
