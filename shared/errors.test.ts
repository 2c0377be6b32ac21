import t from 'tap';
import { errorMessage } from './errors.ts';

t.test('errorMessage reads Errors, message-carrying events and anything else', async (t) => {
  t.equal(errorMessage(new Error('boom')), 'boom');
  t.equal(
    errorMessage({ type: 'error', message: 'Unexpected server response: 403' }),
    'Unexpected server response: 403',
  );
  t.equal(errorMessage('plain'), 'plain');
  t.equal(errorMessage({ message: 42 }), '[object Object]');
  t.equal(errorMessage(null), 'null');
});
