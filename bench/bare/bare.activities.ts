// The bare workflow's activity: a round trip through the task queue that does nothing.
export interface BareActivities {
  noop(input: { step: string }): Promise<{ step: string }>;
}

export const bareActivities: BareActivities = {
  async noop(input) {
    return input;
  },
};
