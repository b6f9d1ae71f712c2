export * from './data';
export * from './train';
export { ParticipantAgent, trainingSeed, type AgentOptions } from './client/agent';
export { UnmaskedWebSocket } from './client/transport';
export { CoordinatorPins } from './client/pins';
export { requestJson, networkErrorMessage, type JsonRequestOptions, type JsonResponse } from './client/http';
export { enroll, EnrollmentError, type EnrollOptions } from './client/enroll';
